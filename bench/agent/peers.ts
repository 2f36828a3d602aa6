// The peers on the same work, each installing the image `runs` times: SWUpdate from a
// local .swu and streamed from 127.0.0.1, and RAUC from a local bundle.
import { join } from 'node:path';
import { prepareRauc, raucMissing } from './rauc-run.ts';
import { prepareSwupdate, swupdateMissing, type PeerFigures } from './swupdate-run.ts';

export interface PeerSeries {
  label: string;
  figures: PeerFigures[];
}

export interface PeerResults {
  series: PeerSeries[];
  /** Peers that did not run, and why. */
  missing: string[];
}

export async function runPeers(
  root: string,
  image: Uint8Array,
  runs: number,
  skip: { swupdate: boolean; rauc: boolean },
  progress: (line: string) => void,
): Promise<PeerResults> {
  const results: PeerResults = { series: [], missing: [] };
  const why = skip.swupdate ? 'skipped (--no-swupdate)' : swupdateMissing();
  if (why) results.missing.push(`SWUpdate: ${why}`);
  else {
    const file = { label: 'swupdate -i (local signed .swu)', figures: [] as PeerFigures[] };
    const download = { label: 'swupdate -d (signed .swu from 127.0.0.1)', figures: [] as PeerFigures[] };
    results.series.push(file, download);
    const kit = await prepareSwupdate(join(root, 'swupdate'), image);
    try {
      for (let run = 0; run < runs; run++) {
        file.figures.push(await kit.run('file'));
        download.figures.push(await kit.run('download'));
        progress(`run ${run + 1}/${runs}: swupdate done`);
      }
    } finally {
      await kit.close();
    }
  }
  const whyNot = skip.rauc ? 'skipped (--no-rauc)' : raucMissing();
  if (whyNot) results.missing.push(`RAUC: ${whyNot}`);
  else {
    const rauc = { label: 'rauc install (local signed plain bundle)', figures: [] as PeerFigures[] };
    results.series.push(rauc);
    const kit = await prepareRauc(join(root, 'rauc'), image);
    try {
      for (let run = 0; run < runs; run++) {
        rauc.figures.push(await kit.run());
        progress(`run ${run + 1}/${runs}: rauc done`);
      }
    } finally {
      await kit.close();
    }
  }
  return results;
}
