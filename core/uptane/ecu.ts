import { z } from 'zod';

/** One ECU of a device: its serial and the hardware id images must be built for. */
export interface EcuIdentity {
  serial: string;
  hardwareId: string;
}

/** A device as Uptane sees it: its id and its ECUs (the primary first). */
export interface DeviceIdentity {
  deviceId: string;
  ecus: readonly EcuIdentity[];
}

/** The device's primary ECU: the first, which speaks for the device. */
export function primaryEcuOf(device: DeviceIdentity): EcuIdentity {
  const primary = device.ecus[0];
  if (!primary) throw new Error(`device ${device.deviceId} has no ECU`);
  return primary;
}

const releaseCounter = z.int().min(0);

/**
 * `custom` of a Director target: which ECU must install it (by serial, with
 * the hardware id the Director believes that ECU has).
 */
export const directorTargetCustomSchema = z.object({
  ecuIdentifiers: z.record(z.string().min(1).max(128), z.object({ hardwareId: z.string().min(1).max(128) })),
  releaseCounter: releaseCounter.optional(),
});

/** `custom` of the Director's targets metadata itself: the device it was made for. */
export const directorTargetsCustomSchema = z.object({ deviceId: z.string().min(1).max(128) });

/** `custom` of an Image repository target: the hardware it runs on and its release counter. */
export const imageTargetCustomSchema = z.object({
  hardwareIds: z.array(z.string().min(1).max(128)).min(1),
  releaseCounter,
});
