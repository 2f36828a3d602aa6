import { describe, expect, it } from 'vitest';
import { errorLines, MAX_SHOWN_LINES } from '../../../cli/device-text.ts';

describe("a device's error in the fleet view", () => {
  it('shows the code with the first line, and an unhealthy app’s output on lines of its own', () => {
    const message =
      'app web did not reach its health goal (exit code 3); its last output:\nweb 3.0 starting\nno config';
    expect(errorLines({ code: 'APP_UNHEALTHY', message })).toEqual([
      'APP_UNHEALTHY: app web did not reach its health goal (exit code 3); its last output:',
      'web 3.0 starting',
      'no config',
    ]);
  });

  it('drops terminal escapes and other control characters the device sent', () => {
    const lines = errorLines({
      code: 'APP_UNHEALTHY',
      message: 'bad\u001b]0;owned\u0007\nout\u001b[2Jput\r',
    });
    expect(lines).toEqual(['APP_UNHEALTHY: bad ]0;owned ', 'out [2Jput ']);
    expect(lines.join('')).not.toMatch(/\p{Cc}/u);
  });

  it(`shows only the last ${MAX_SHOWN_LINES} lines of the output, and says that some were left out`, () => {
    const output = Array.from({ length: 50 }, (_, i) => `line ${i}`);
    const lines = errorLines({ code: 'APP_UNHEALTHY', message: ['its last output:', ...output].join('\n') });
    expect(lines).toEqual([
      'APP_UNHEALTHY: its last output:',
      '(earlier lines left out)',
      ...output.slice(-MAX_SHOWN_LINES),
    ]);
  });

  it('keeps a one-line message on one line', () => {
    expect(errorLines({ code: 'BOOT_FAILED', message: 'the trial boot never came up' })).toEqual([
      'BOOT_FAILED: the trial boot never came up',
    ]);
  });
});
