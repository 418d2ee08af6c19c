import { input, password } from "@inquirer/prompts";
import { normalizeEmail } from "@warden/contracts";
import { UsageError } from "./env.js";

function requireTerminal(what: string): void {
  if (!process.stdin.isTTY) throw new UsageError(`${what} is required (no terminal to prompt on)`);
}

export async function askText(label: string): Promise<string> {
  requireTerminal(label.toLowerCase());
  return input({ message: label, required: true });
}

/** `variable`: the environment variable that stands in for the prompt, named when there is no terminal. */
export async function askPassword(label: string, confirm = false, variable = "WARDEN_PASSWORD"): Promise<string> {
  requireTerminal(`${label.toLowerCase()} (or ${variable})`);
  const first = await password({ message: label, mask: "*" });
  if (confirm && (await password({ message: "Again", mask: "*" })) !== first) throw new UsageError("passwords do not match");
  return first;
}

/** Whether there is a terminal to ask on. */
export const onTerminal = () => Boolean(process.stdin.isTTY);

/** Asks to type `expected` (an email) to go on: true only when that is what was typed. */
export async function confirmByTyping(message: string, expected: string): Promise<boolean> {
  requireTerminal("confirmation");
  const typed = await input({ message });
  return normalizeEmail(typed) === expected;
}
