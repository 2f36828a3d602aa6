import { UprollError } from '../core/index.ts';
import { readDeploymentFile } from './deployment-file.ts';

// The settings that name a deployment and say how to reach it, each from its option, else its
// environment variable, else the deployment file (--deployment-file, $UPROLL_DEPLOYMENT_FILE):
// so a shell, a systemd unit or a compose file can name it whichever way suits it.

/** Every deployment setting: its option (and key in a deployment file), its variable, its kind. */
export const DEPLOYMENT_SETTINGS = [
  { option: 'temporal', env: 'UPROLL_TEMPORAL', kind: 'string' },
  { option: 'nats', env: 'UPROLL_NATS', kind: 'string' },
  { option: 'nats-seed-file', env: 'UPROLL_NATS_CREDS', kind: 'file' },
  { option: 'nats-ca-file', env: 'UPROLL_NATS_CA', kind: 'file' },
  { option: 'nats-replicas', env: 'UPROLL_NATS_REPLICAS', kind: 'string' },
  { option: 'temporal-namespace', env: 'UPROLL_TEMPORAL_NAMESPACE', kind: 'string' },
  { option: 'temporal-tls', env: 'UPROLL_TEMPORAL_TLS', kind: 'boolean' },
  { option: 'temporal-ca-file', env: 'UPROLL_TEMPORAL_CA', kind: 'file' },
  { option: 'temporal-cert-file', env: 'UPROLL_TEMPORAL_CERT', kind: 'file' },
  { option: 'temporal-key-file', env: 'UPROLL_TEMPORAL_KEY', kind: 'file' },
  { option: 'temporal-server-name', env: 'UPROLL_TEMPORAL_SERVER_NAME', kind: 'string' },
  { option: 'temporal-api-key-file', env: 'UPROLL_TEMPORAL_API_KEY_FILE', kind: 'file' },
] as const;

export type DeploymentSetting = (typeof DEPLOYMENT_SETTINGS)[number];
export type DeploymentSettingName = DeploymentSetting['option'];

/** A setting's value (a boolean as `1` or `0`) and where it came from, for messages. */
export interface SettingValue {
  value: string;
  /** `--temporal ($UPROLL_TEMPORAL)`, or `temporal in deployment file FILE`. */
  label: string;
}

export type DeploymentSettings = Partial<Record<DeploymentSettingName, SettingValue>>;

/** `--deployment-file` (else $UPROLL_DEPLOYMENT_FILE): the file, if one is named. */
export function deploymentFileOf(values: Record<string, unknown>): string | undefined {
  const given = values['deployment-file'];
  const file = typeof given === 'string' ? given : process.env['UPROLL_DEPLOYMENT_FILE'] || undefined;
  if (file !== undefined && (file.length === 0 || file.length > 4096))
    throw new UprollError('INVALID_INPUT', '--deployment-file ($UPROLL_DEPLOYMENT_FILE) must name a file');
  return file;
}

/** How a setting is named in messages: its option and its variable. */
export const labelOf = (setting: { option: string; env: string }) => `--${setting.option} ($${setting.env})`;

/**
 * Each deployment setting that is given: the option, else its variable (an
 * empty one is unset), else the deployment file. A boolean variable is `1`
 * or `0` (also `true`, `false`); anything else is INVALID_INPUT.
 */
export async function deploymentSettingsOf(values: Record<string, unknown>): Promise<DeploymentSettings> {
  const file = deploymentFileOf(values);
  const inFile = file ? await readDeploymentFile(file, DEPLOYMENT_SETTINGS) : {};
  const settings: DeploymentSettings = {};
  for (const setting of DEPLOYMENT_SETTINGS) {
    const given = fromCommandLineOrEnvironment(setting, values);
    const fromFile = inFile[setting.option];
    if (given !== undefined) settings[setting.option] = { value: given, label: labelOf(setting) };
    else if (fromFile !== undefined)
      settings[setting.option] = { value: fromFile, label: `${setting.option} in deployment file ${file}` };
  }
  return settings;
}

function fromCommandLineOrEnvironment(
  setting: DeploymentSetting,
  values: Record<string, unknown>,
): string | undefined {
  const option = values[setting.option];
  if (setting.kind === 'boolean') {
    if (option === true) return '1';
    const variable = process.env[setting.env] || undefined;
    if (variable === undefined) return undefined;
    if (/^(1|true)$/i.test(variable)) return '1';
    if (/^(0|false)$/i.test(variable)) return '0';
    throw new UprollError('INVALID_INPUT', `${labelOf(setting)}: must be 1 or 0`);
  }
  return typeof option === 'string' ? option : process.env[setting.env] || undefined;
}
