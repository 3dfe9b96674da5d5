// TLS failures shared by the Redis, MySQL and registry adapters: which Node error codes mean the peer's certificate
// was not trusted (or names another host), so each adapter can say "check the CA file" with its own code.

/** Node's TLS error codes for a certificate the client does not trust or that names another host. */
export const TLS_CERT_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** TLS_CERT_CODES and a driver's own codes for the same failure. */
export const tlsCertCodes = (...more: string[]): ReadonlySet<string> => new Set([...TLS_CERT_CODES, ...more]);
