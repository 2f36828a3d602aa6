import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';

// The repositories' certificates come from the deployment's own CA, which no system trust store
// holds: a device adds the CA of its bundle once, at start, and every HTTPS GET of this module
// verifies servers against the system roots plus that CA.

const extraCas = new Set<string>();
let agent: Agent | undefined;

/** Trusts `caPem` (besides the system roots) for the repositories' HTTPS from now on. */
export function trustServerCa(caPem: string): void {
  if (extraCas.has(caPem)) return;
  extraCas.add(caPem);
  agent = new Agent({ keepAlive: true, ca: [...rootCertificates, ...extraCas] });
}

/** The HTTPS agent every repository GET uses: undefined (Node's own) until a CA was added. */
export function serverTrustAgent(): Agent | undefined {
  return agent;
}
