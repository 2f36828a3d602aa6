import { createPublicKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

const DAY = 24 * 60 * 60 * 1000;

function forgeKeys(privateKey: KeyObject) {
  return {
    privateKey: forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
    publicKey: forge.pki.publicKeyFromPem(
      createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString(),
    ),
  };
}

function serialNumber(): string {
  // Positive, 16 random bytes (RFC 5280: at most 20 octets).
  return `01${randomBytes(15).toString('hex')}`;
}

/** The fleet's certificate authority: a self-signed CA certificate over an RSA key. */
export function createFleetCa(
  caKey: KeyObject,
  now: Date,
  options: { name?: string; days?: number } = {},
): string {
  const keys = forgeKeys(caKey);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = now;
  cert.validity.notAfter = new Date(now.getTime() + (options.days ?? 3650) * DAY);
  const subject = [{ name: 'commonName', value: options.name ?? 'Uproll fleet CA' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/**
 * A device certificate for mTLS: CN is the device id, client and server
 * authentication, signed by the fleet CA. The device key is RSA (node-forge
 * signs and embeds RSA keys).
 */
export function issueDeviceCertificate(input: {
  caKey: KeyObject;
  caCertificate: string;
  deviceId: string;
  deviceKey: KeyObject;
  now: Date;
  days?: number;
}): string {
  const ca = forge.pki.certificateFromPem(input.caCertificate);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgeKeys(input.deviceKey).publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = input.now;
  cert.validity.notAfter = new Date(input.now.getTime() + (input.days ?? 825) * DAY);
  cert.setSubject([{ name: 'commonName', value: input.deviceId }]);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true, serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: `${input.deviceId}.devices.uproll` }] },
  ]);
  cert.sign(forgeKeys(input.caKey).privateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** True when `certificate` was issued by `caCertificate` (checked with node:crypto, independently of forge). */
export function isIssuedBy(certificate: string, caCertificate: string): boolean {
  const ca = new X509Certificate(caCertificate);
  const cert = new X509Certificate(certificate);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/** A literal IPv4 or IPv6 address (a SAN of type IP), as opposed to a DNS name. */
const isIpAddress = (host: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');

/**
 * A server certificate (NATS, the repositories, the API) for the names and
 * addresses clients reach it by: each a subjectAltName, as clients check
 * them (RFC 6125), server authentication only, signed by the CA.
 */
export function issueServerCertificate(input: {
  caKey: KeyObject;
  caCertificate: string;
  serverKey: KeyObject;
  hosts: readonly string[];
  now: Date;
  days?: number;
}): string {
  const ca = forge.pki.certificateFromPem(input.caCertificate);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgeKeys(input.serverKey).publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = input.now;
  cert.validity.notAfter = new Date(input.now.getTime() + (input.days ?? 397) * DAY);
  cert.setSubject([{ name: 'commonName', value: input.hosts[0] ?? 'uproll' }]);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      // forge takes an IP SAN (type 7) as text in `ip`, a DNS name (type 2) in `value`.
      altNames: input.hosts.map((host) =>
        isIpAddress(host) ? { type: 7, ip: host } : { type: 2, value: host },
      ),
    },
  ]);
  cert.sign(forgeKeys(input.caKey).privateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}
