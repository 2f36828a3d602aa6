import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes the local stack registers, by name and CLI type. */
export const SEARCH_ATTRIBUTES = {
  UprollDeviceId: 'Keyword',
  UprollRolloutId: 'Keyword',
} as const;

export const deviceIdKey = defineSearchAttributeKey('UprollDeviceId', SearchAttributeType.KEYWORD);
export const rolloutIdKey = defineSearchAttributeKey('UprollRolloutId', SearchAttributeType.KEYWORD);
