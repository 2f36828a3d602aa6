// The layers of the code and the arrows allowed between them (`npm run lint` checks them):
// each folder may import only what it lists; everything else, and any cycle, fails.
// Outside workflows/, only their contract (inputs, results, messages) may be imported.
const CONTRACTS = 'workflows/contracts\\.ts$';

/** Folder: what its files may import (folders, or paths as regular expressions). */
const LAYERS = {
  core: ['core'],
  adapters: ['core', 'adapters'],
  keys: ['core', 'adapters', 'keys'],
  workflows: ['core', 'workflows', 'activities'], // activities as types only: see below
  services: ['core', 'adapters', 'keys', 'services', CONTRACTS],
  activities: ['core', 'adapters', 'services', 'activities', CONTRACTS],
  agent: ['core', 'adapters', 'agent'],
  sim: ['core', 'adapters', 'keys', 'services', 'agent', 'sim', CONTRACTS],
  cli: ['core', 'adapters', 'keys', 'services', 'activities', 'agent', 'sim', 'cli', CONTRACTS],
  release: ['core', 'adapters', 'keys', 'services', 'agent', 'cli', 'release'],
  dashboard: ['core', 'dashboard'],
  bin: ['cli', 'bin'],
  // bench/ and test/ are harnesses: they may import anything, and nothing imports them.
};
const PROJECT = `^(${[...Object.keys(LAYERS), 'bench', 'test'].join('|')})/`;
const pattern = (entry) => (entry.includes('\\') || entry.includes('$') ? `^${entry}` : `^${entry}/`);

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...Object.entries(LAYERS).map(([layer, allowed]) => ({
      name: `${layer}-layer`,
      comment: `${layer}/ imports only ${allowed.map((a) => (a === CONTRACTS ? 'workflows/contracts.ts' : `${a}/`)).join(', ')}`,
      severity: 'error',
      from: { path: `^${layer}/` },
      to: { path: PROJECT, pathNot: allowed.map(pattern).join('|') },
    })),
    {
      name: 'workflows-reach-activities-as-types',
      comment: 'workflows run in a sandbox: activities are proxies, imported as types only',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'contracts-import-only-core',
      comment: 'importing a workflow contract never pulls a workflow (or an activity) in',
      severity: 'error',
      from: { path: CONTRACTS },
      to: { path: PROJECT, pathNot: '^core/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycle, type-only imports included',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|coverage|\\.uproll)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs'] },
  },
};
