import { main } from '../../cli/main.ts';
import { captureIo } from '../cli-io.ts';

/** Runs `uproll ARGV` in this process, as the tests' integration rigs do, with what it printed. */
export async function runCliInProcess(argv: readonly string[]) {
  const io = captureIo();
  const status = await main([...argv], io);
  return { status, stdout: io.stdout(), stderr: io.stderr() };
}
