/**
 * This package's version, written as the ONNX `producer_version`. A constant rather than a JSON
 * import so the library needs no file outside `src/`; `version.test.ts` keeps it in sync with
 * package.json.
 */
export const PACKAGE_VERSION = '0.1.0';
