/**
 * The reference time of library code. Only the edges (the CLI, the servers'
 * and the agent's entry points, tests) read the wall clock and pass it in as
 * a Clock; library code never reads it itself (lint enforces this), so a test
 * can run it at any date and every expiry check is reproducible.
 */
export type Clock = () => Date;
