/**
 * Child-process environment entries that switch off the AWS SDK's default credential chain (variables,
 * shared files, instance metadata), so the keychain ref is the only way a daemon gets S3 keys. An
 * `undefined` value removes the variable (see daemonProcess.ts).
 */
export const NO_AWS_DEFAULT_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: undefined,
  AWS_SECRET_ACCESS_KEY: undefined,
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
  AWS_CONFIG_FILE: '/nonexistent/config',
  AWS_EC2_METADATA_DISABLED: 'true',
} as const;
