export * from './boot-backend.ts';
export * from './uboot-env.ts';
export * from './grub-env.ts';
export * from './booted-slot.ts';
export * from './reboot-command.ts';
export * from './boot-verdict.ts';
