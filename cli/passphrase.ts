import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { UprollError } from '../core/index.ts';
import type { OptionSpec } from './command.ts';

/** Options that say where a passphrase comes from: never the command line itself. */
export function passphraseOptions(prefix: string, who: string): Record<string, OptionSpec> {
  return {
    [`${prefix}passphrase-env`]: {
      type: 'string',
      description: `name of the environment variable holding the ${who} passphrase`,
    },
    [`${prefix}passphrase-fd`]: {
      type: 'string',
      description: `file descriptor to read the ${who} passphrase from`,
    },
  };
}

/**
 * Reads a passphrase from an environment variable or a file descriptor, or
 * asks on the terminal. Passphrases are never taken as arguments: those show
 * in process lists and shell history.
 */
export async function readPassphrase(
  values: Record<string, unknown>,
  prefix: string,
  who: string,
): Promise<string> {
  const env = values[`${prefix}passphrase-env`];
  const fd = values[`${prefix}passphrase-fd`];
  if (typeof env === 'string') {
    const value = process.env[env];
    if (!value)
      throw new UprollError(
        'INVALID_INPUT',
        `the environment variable ${env} (${who} passphrase) is empty or unset`,
      );
    return value;
  }
  if (typeof fd === 'string') {
    const number = Number(fd);
    if (!Number.isInteger(number) || number < 0)
      throw new UprollError('INVALID_INPUT', `--${prefix}passphrase-fd must be a file descriptor number`);
    return readFileSync(number, 'utf8').split('\n')[0] ?? '';
  }
  if (!process.stdin.isTTY) {
    throw new UprollError(
      'INVALID_INPUT',
      `no ${who} passphrase: pass --${prefix}passphrase-env NAME or --${prefix}passphrase-fd N`,
    );
  }
  const terminal = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await terminal.question(`${who} passphrase: `);
  } finally {
    terminal.close();
  }
}
