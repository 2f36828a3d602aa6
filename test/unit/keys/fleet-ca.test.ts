import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createFleetCa,
  isIssuedBy,
  issueDeviceCertificate,
  issueServerCertificate,
} from '../../../keys/index.ts';
import { FIXTURE_NOW } from '../../helpers/fixture-time.ts';

const NOW = FIXTURE_NOW;
const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

describe('fleet CA', () => {
  const caKey = rsa();
  const caCertificate = createFleetCa(caKey, NOW);

  it('is a self-signed CA certificate', () => {
    const ca = new X509Certificate(caCertificate);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toContain('CN=Uproll fleet CA');
    expect(isIssuedBy(caCertificate, caCertificate)).toBe(true);
  });

  it('issues device certificates naming the device, which node:crypto verifies against the CA', () => {
    const certificate = issueDeviceCertificate({
      caKey,
      caCertificate,
      deviceId: 'dev-1',
      deviceKey: rsa(),
      now: NOW,
    });
    const cert = new X509Certificate(certificate);
    expect(cert.subject).toBe('CN=dev-1');
    expect(cert.ca).toBe(false);
    expect(cert.subjectAltName).toBe('DNS:dev-1.devices.uproll');
    expect(isIssuedBy(certificate, caCertificate)).toBe(true);
  });

  it('issues server certificates for the addresses and names clients reach the server by, for server use only', () => {
    const certificate = issueServerCertificate({
      caKey,
      caCertificate,
      serverKey: rsa(),
      hosts: ['127.0.0.1', '::1', 'localhost', 'nats.example.com'],
      now: NOW,
    });
    const cert = new X509Certificate(certificate);
    expect(cert.ca).toBe(false);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('nats.example.com')).toBe('nats.example.com');
    expect(cert.checkHost('other.example.com')).toBeUndefined();
    expect(cert.checkIP('10.0.0.1')).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(isIssuedBy(certificate, caCertificate)).toBe(true);
  });

  it('does not vouch for certificates of another CA', () => {
    const otherKey = rsa();
    const other = createFleetCa(otherKey, NOW, { name: 'Someone else' });
    const certificate = issueDeviceCertificate({
      caKey: otherKey,
      caCertificate: other,
      deviceId: 'dev-2',
      deviceKey: rsa(),
      now: NOW,
    });
    expect(isIssuedBy(certificate, caCertificate)).toBe(false);
  });
});
