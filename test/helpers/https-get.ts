import { readFile } from 'node:fs/promises';
import { get } from 'node:https';

/**
 * GETs `url` over HTTPS trusting only the CA in `caFile` (Node's fetch takes
 * no CA of its own): status, body and the body as JSON. A server whose
 * certificate does not chain to that CA rejects.
 */
export async function getTrusting(
  url: string,
  caFile: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Buffer; json(): unknown }> {
  const ca = await readFile(caFile, 'utf8');
  return new Promise((resolve, reject) => {
    get(url, { ca, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: response.statusCode ?? 0,
          body,
          json: () => JSON.parse(body.toString('utf8')) as unknown,
        });
      });
    }).on('error', reject);
  });
}
