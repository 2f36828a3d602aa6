import { join } from 'node:path';
import { KeyStore, type KeyStoreOptions } from '../keys/index.ts';
import { stateDirOf, type OptionSpec } from './command.ts';
import { systemClock } from './system-clock.ts';

/** Where the key store and the repositories live: options and their defaults under the state directory. */
export const locationOptions = {
  keystore: { type: 'string', description: 'key store directory (default <state-dir>/keys)' },
  repo: { type: 'string', description: 'Image repository directory (default <state-dir>/image-repo)' },
  director: { type: 'string', description: 'Director directory (default <state-dir>/director)' },
} satisfies Record<string, OptionSpec>;

const dirOf = (values: Record<string, unknown>, option: keyof typeof locationOptions, fallback: string) =>
  typeof values[option] === 'string' ? values[option] : join(stateDirOf(values), fallback);

export const keystoreDir = (values: Record<string, unknown>) => dirOf(values, 'keystore', 'keys');
/** The key store the options name, its audit trail on the wall clock. */
export const openKeyStore = (values: Record<string, unknown>, options: Omit<KeyStoreOptions, 'clock'> = {}) =>
  new KeyStore(keystoreDir(values), { clock: systemClock, ...options });
export const imageRepoDir = (values: Record<string, unknown>) => dirOf(values, 'repo', 'image-repo');
export const directorDir = (values: Record<string, unknown>) => dirOf(values, 'director', 'director');
/** Where keys init leaves the fleet CA certificate. */
export const fleetCaPath = (keystore: string) => join(keystore, 'fleet-ca.crt');
