import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { UprollError } from '../../core/index.ts';
import { serverTrustAgent } from './server-trust.ts';

/**
 * A GET for large bodies, on node:http rather than fetch: the response is
 * read with the socket's own backpressure and no second buffering layer,
 * which keeps a device's memory flat while a big image streams in. No
 * redirects are followed (a repository never needs one).
 */
export function getStream(
  url: string,
  options: { headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<IncomingMessage> {
  const https = new URL(url).protocol === 'https:';
  return new Promise((resolve, reject) => {
    const request = https
      ? httpsGet(
          url,
          { headers: options.headers, signal: options.signal, agent: serverTrustAgent() },
          resolve,
        )
      : httpGet(url, { headers: options.headers, signal: options.signal }, resolve);
    request.on('error', (cause) =>
      reject(new UprollError('DOWNLOAD_FAILED', `could not fetch ${url}`, { cause })),
    );
  });
}
