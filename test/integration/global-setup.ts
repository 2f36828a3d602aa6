import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { findFreePort, startLocalStack, stopLocalStack } from '../../services/dev-stack/index.ts';
import { bundleWorkflows } from '../../services/temporal/index.ts';

export interface IntegrationContext {
  stateDir: string;
  workflowBundlePath: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    integration: IntegrationContext;
  }
}

/**
 * Starts a fresh Temporal dev server and nats-server on free ports for the
 * run, bundles the workflow code once, and stops both afterwards.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stateDir = await mkdtemp(join(tmpdir(), 'uproll-it-'));
  const ports = {
    temporal: await findFreePort(),
    nats: await findFreePort(),
    natsMonitor: await findFreePort(),
  };
  const [, bundle] = await Promise.all([
    startLocalStack({ stateDir, ports, clock: () => new Date() }),
    bundleWorkflows(),
  ]);
  const workflowBundlePath = join(stateDir, 'workflow-bundle.js');
  await writeFile(workflowBundlePath, bundle);
  project.provide('integration', { stateDir, workflowBundlePath });
  return async () => {
    await stopLocalStack(stateDir);
    await rm(stateDir, { recursive: true, force: true });
  };
}
