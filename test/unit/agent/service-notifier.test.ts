import { afterEach, describe, expect, it } from 'vitest';
import { serviceNotifierFrom, systemdNotifier } from '../../../agent/index.ts';
import { bindNotifySocket, type NotifySocket } from '../../helpers/notify-socket.ts';

let socket: NotifySocket | undefined;
afterEach(() => socket?.close());

describe('the service notifier', () => {
  describe('without NOTIFY_SOCKET', () => {
    it('does nothing', async () => {
      const notifier = serviceNotifierFrom({});
      expect(notifier.enabled).toBe(false);
      await notifier.notify({ READY: '1' });
    });
  });

  describe('with NOTIFY_SOCKET', () => {
    it('takes it out of the environment, so the processes the agent starts cannot speak for it', () => {
      const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/systemd/notify', PATH: '/usr/bin' };
      expect(serviceNotifierFrom(env).enabled).toBe(true);
      expect(env).toEqual({ PATH: '/usr/bin' });
    });

    it('sends the assignments as one message, in the order they were sent', async () => {
      socket = await bindNotifySocket();
      const notifier = systemdNotifier(socket.path);
      void notifier.notify({ READY: '1', STATUS: 'ready' });
      await notifier.notify({ STATUS: 'downloading' });

      expect(socket.messages).toEqual([['READY=1', 'STATUS=ready'], ['STATUS=downloading']]);
    });

    it('never lets a newline in a value forge another assignment', async () => {
      socket = await bindNotifySocket();
      await systemdNotifier(socket.path).notify({ STATUS: 'revision 2.0\nREADY=1' });

      expect(socket.messages).toEqual([['STATUS=revision 2.0 READY=1']]);
    });
  });

  describe('when systemd-notify cannot run', () => {
    it('logs why and goes on', async () => {
      const logged: string[] = [];
      const notifier = systemdNotifier('/nonexistent/notify', {
        command: '/nonexistent/systemd-notify',
        log: (line) => logged.push(line),
      });
      await notifier.notify({ WATCHDOG: '1' });

      expect(logged).toEqual([expect.stringMatching(/^service notification WATCHDOG=1 failed: .*ENOENT/)]);
    });
  });
});
