/** The device events of an update that went all the way, each once, in order. */
export const COMMITTED_UPDATE_EVENTS = [
  'device.update.started',
  'device.update.commanded',
  'device.update.downloaded',
  'device.update.verified',
  'device.update.installed',
  'device.update.healthy',
  'device.update.committed',
];
