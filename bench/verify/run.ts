// npm run bench:verify — prints figures, never fails on them.
import { benchTargetStream } from './target-stream.ts';
import { benchUptaneVerification } from './uptane-verification.ts';

await benchUptaneVerification();
console.log('');
await benchTargetStream();
