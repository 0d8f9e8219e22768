/**
 * URLs are printed and logged (broker, chain RPC, ingest), and a URL can carry a secret: a
 * password in its userinfo, or a token in its query. Every place that shows a URL shows
 * redactUrl(url) instead. The username stays (it names the account, and operators need it); the
 * password and the values of query parameters that look like secrets become "***".
 */
const SECRET_PARAM = /^(pass(word)?|pwd|secret|token|access[-_]?token|api[-_]?key|apikey|key|auth|authorization|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|credential|session)$/i;

export function redactUrl(url: string): string {
  if (typeof url !== 'string') return '';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not a URL we can parse: hide anything that looks like userinfo rather than print it.
    return url.replace(/\/\/[^/@\s]*@/g, '//***@').replace(/([?&][^=&#\s]*=)[^&#\s]*/g, '$1***');
  }
  if (u.password) u.password = '***';
  for (const k of [...u.searchParams.keys()]) if (SECRET_PARAM.test(k)) u.searchParams.set(k, '***');
  // URL serialises the replaced values percent-encoded; show them as written.
  return u.toString().replace(/%2A%2A%2A/g, '***');
}
