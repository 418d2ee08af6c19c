import { input, password } from "@inquirer/prompts";
import { UsageError } from "./env.js";

function requireTerminal(what: string): void {
  if (!process.stdin.isTTY) throw new UsageError(`${what} is required (no terminal to prompt on)`);
}

export async function askText(label: string): Promise<string> {
  requireTerminal(label.toLowerCase());
  return input({ message: label, required: true });
}

export async function askPassword(label: string, confirm = false): Promise<string> {
  requireTerminal("password (or WARDEN_PASSWORD)");
  const first = await password({ message: label, mask: "*" });
  if (confirm && (await password({ message: "Again", mask: "*" })) !== first) throw new UsageError("passwords do not match");
  return first;
}
