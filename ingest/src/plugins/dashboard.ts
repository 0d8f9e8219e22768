/**
 * Serves the care-team dashboard (the built dashboard/dist/app) at `/`, same origin as the API it
 * calls, under a strict Content-Security-Policy: scripts, workers, styles and connections from this
 * origin only, no inline script, no eval, no framing. Static files only: the page holds no data.
 */
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

export const DASHBOARD_CSP = [
  "default-src 'none'", "script-src 'self'", "worker-src 'self'", "style-src 'self'", "connect-src 'self'",
  "img-src 'self' data:", "font-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

export async function dashboardPlugin(app: FastifyInstance, o: { dir: string }): Promise<void> {
  app.addHook('onSend', async (_req, reply) => {
    void reply.header('content-security-policy', DASHBOARD_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin');
  });
  await app.register(fastifyStatic, { root: o.dir, prefix: '/', index: ['index.html'], cacheControl: true, maxAge: 0 });
}
