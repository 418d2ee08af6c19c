import { CommanderError } from "commander";
import { describeFailure, EXIT } from "./exit-codes.js";
import { currentUrl } from "./context.js";
import { buildProgram } from "./program.js";

/** Runs one command; expected failures are one line on stderr and a documented exit code. */
async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed the message already; help and --version are not failures.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    // A prompt interrupted with Ctrl-C.
    if (error instanceof Error && error.name === "ExitPromptError") return EXIT.USAGE;
    const { message, exitCode } = describeFailure(error, currentUrl);
    process.stderr.write(`warden: ${message}\n`);
    return exitCode;
  }
}

process.once("SIGINT", () => process.exit(EXIT.OK));
// Exit explicitly: open handles (sockets kept alive, lock-file timers) must not keep it running.
void main(process.argv).then((code) => process.exit(code));
