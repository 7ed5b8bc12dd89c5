/** This package's version, written into every manifest's `generator`; `version.test.ts` keeps it in sync. */
export const PACKAGE_VERSION = '0.1.0';
