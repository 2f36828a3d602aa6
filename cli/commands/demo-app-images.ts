import { readOciLayout, type AppRelease, type OciImage } from '../../services/image-repo/index.ts';
import { busyboxLayer, scriptLayer, writeOciLayout } from '../../sim/index.ts';

/** The apps' images, by tag ("<app>-<version>"): a script on top of a shared busybox layer. */
const SCRIPTS = {
  'sensor-1.0': 'echo "sensor 1.0: reading the temperature every second"\nexec sleep 86400',
  'web-1.0': 'echo "web 1.0: serving the gateway dashboard"\nexec sleep 86400',
  'web-2.0': 'echo "web 2.0: serving the gateway dashboard, now with charts"\nexec sleep 86400',
  // All on stderr: busybox sh's stdout lines reached the log after its stderr lines.
  'web-2.1':
    'exec >&2\necho "web 2.1: starting"\necho "web 2.1: cannot read /etc/web/tls.pem: no such file"\nexit 3',
};
export type Tag = keyof typeof SCRIPTS;

type AppImages = Record<Tag, OciImage>;

/** Writes the apps' images into an OCI layout at `layout` and reads them back as a release publishes them. */
export async function buildAppImages(layout: string, busybox: string): Promise<AppImages> {
  const base = await busyboxLayer(busybox);
  const tags = Object.keys(SCRIPTS) as Tag[];
  await writeOciLayout(
    layout,
    tags.map((tag) => ({ tag, layers: [base, scriptLayer(SCRIPTS[tag])], cmd: ['/app/run'] })),
  );
  // Read back the way `uproll release revision --app NAME=DIR:TAG` reads it: every blob checked.
  const images = {} as AppImages;
  for (const tag of tags) images[tag] = await readOciLayout(layout, tag);
  return images;
}

/** The app a tag names ("web-2.0": app web), run from its image; healthy once it ran for a second. */
export function appOf(images: AppImages, tag: Tag): AppRelease {
  return { name: tag.slice(0, tag.indexOf('-')), image: images[tag], health: { runningForMs: 1000 } };
}

/** "web 2.0" for the manifest of image web-2.0 (the manifest itself for an image not built here). */
export function labelOf(images: AppImages, manifest: string): string {
  const tag = (Object.keys(images) as Tag[]).find((t) => images[t].manifest === manifest);
  return tag ? tag.replace('-', ' ') : manifest;
}
