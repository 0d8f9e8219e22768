/**
 * Serves the care-team dashboard (the built dashboard/dist/app) at `/`, same origin as the API it
 * calls, under a strict Content-Security-Policy: scripts, workers, styles and connections from this
 * origin only, no inline script, no eval, no framing. Static files only: the page holds no data.
 */
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

/** What the page needs to check proofs on chain itself: a JSON-RPC URL its browser may reach, and where DataAnchor is. */
export interface DashboardChain { rpcUrl: string; chainId: number; dataAnchor: string; consent: string }

export function dashboardCsp(chain?: DashboardChain): string {
  return [
    "default-src 'none'", "script-src 'self'", "worker-src 'self'", "style-src 'self'",
    `connect-src 'self'${chain ? ` ${new URL(chain.rpcUrl).origin}` : ''}`,
    "img-src 'self' data:", "font-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
  ].join('; ');
}

export async function dashboardPlugin(app: FastifyInstance, o: { dir: string; chain?: DashboardChain }): Promise<void> {
  const csp = dashboardCsp(o.chain);
  // The page's settings: public (a chain endpoint and a contract address), never a secret.
  app.get('/config.json', async (_req, reply) => {
    void reply.header('cache-control', 'no-store');
    return { chain: o.chain ?? null };
  });
  app.addHook('onSend', async (_req, reply) => {
    void reply.header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin');
  });
  await app.register(fastifyStatic, { root: o.dir, prefix: '/', index: ['index.html'], cacheControl: true, maxAge: 0 });
}
