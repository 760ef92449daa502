/** The daemon's version; a test keeps it equal to package.json's. */
export const DAEMON_VERSION = '0.1.0';
