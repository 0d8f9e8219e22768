/**
 * The network faces of the broker: MQTT over TCP, over TLS (mqtts), and over WebSocket (ws, wss)
 * for browser tools. Every listener hands aedes a byte stream; nothing above this module knows
 * which transport a client came in on, except through `clientCertificateId` for mutual TLS.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';

export type ListenerProtocol = 'mqtt' | 'mqtts' | 'ws' | 'wss';

/**
 * Client certificates on a TLS listener:
 * - off: none asked for; clients log in with id + secret.
 * - optional: asked for; a certificate signed by `ca` identifies the client by its CN, and a
 *   client without one (or with one that does not verify) must log in with id + secret.
 * - required: the TLS handshake fails without a certificate signed by `ca`.
 */
export type ClientCertMode = 'off' | 'optional' | 'required';

export interface TlsFiles {
  /** PEM certificate chain of the broker. */
  cert: string;
  /** PEM private key of the broker. */
  key: string;
  /** PEM CA bundle that client certificates must chain to (needed unless clientCerts is 'off'). */
  ca?: string;
  clientCerts?: ClientCertMode;
}

export interface ListenerOptions {
  protocol: ListenerProtocol;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Required for mqtts and wss: file paths. */
  tls?: TlsFiles;
  /** WebSocket path. Default /mqtt, the path MQTT.js and most browser tools use. */
  path?: string;
}

export interface OpenListener {
  readonly protocol: ListenerProtocol;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export const DEFAULT_WS_PATH = '/mqtt';

const CERT_ID = Symbol('vitalgate.clientCertificateId');

/**
 * The CN of a client certificate that the TLS layer verified against the configured CA, or
 * undefined when the connection has none (plain TCP, no certificate, or one that did not verify).
 */
export function clientCertificateId(conn: unknown): string | undefined {
  const tagged = (conn as { [CERT_ID]?: string } | null)?.[CERT_ID];
  if (tagged !== undefined) return tagged;
  const sock = conn as Partial<TLSSocket> | null;
  if (!sock || sock.authorized !== true || typeof sock.getPeerCertificate !== 'function') return undefined;
  const cn = sock.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn.length > 0 ? cn : undefined;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read the TLS ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function tlsOptions(protocol: ListenerProtocol, t: TlsFiles | undefined): TlsOptions {
  if (!t) throw new Error(`a ${protocol} listener needs tls.cert and tls.key`);
  const mode = t.clientCerts ?? 'off';
  if (mode !== 'off' && !t.ca) throw new Error(`clientCerts: ${mode} needs tls.ca, the CA that signs client certificates`);
  return {
    cert: readPem(t.cert, 'certificate'),
    key: readPem(t.key, 'key'),
    ...(t.ca ? { ca: readPem(t.ca, 'CA bundle') } : {}),
    requestCert: mode !== 'off',
    rejectUnauthorized: mode === 'required',
    minVersion: 'TLSv1.2',
  };
}

function formatUrl(protocol: ListenerProtocol, host: string, port: number, path: string): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `${protocol}://${h}:${port}${protocol === 'ws' || protocol === 'wss' ? path : ''}`;
}

function listen(server: TcpServer | HttpServer, port: number, host: string, protocol: ListenerProtocol): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      reject(e.code === 'EADDRINUSE' ? new Error(`${protocol} port ${host}:${port} is already in use (pick another port, or 0 for a free one)`) : e);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Open connections, so close() can end them instead of waiting for clients to leave. */
function track(server: TcpServer | HttpServer): () => void {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return () => {
    for (const s of sockets) s.destroy();
  };
}

/**
 * `maxFrameBytes` caps one WebSocket message, which `ws` would otherwise buffer whole (up to its
 * 16 MiB default) before the MQTT packet guard sees a byte: it is the broker's packet cap.
 */
export async function openListener(o: ListenerOptions, handle: (stream: Duplex, req?: IncomingMessage) => void, maxFrameBytes = 512 * 1024): Promise<OpenListener> {
  const host = o.host ?? '127.0.0.1';
  const path = o.path ?? DEFAULT_WS_PATH;
  let server: TcpServer | HttpServer;
  let wss: WebSocketServer | undefined;
  switch (o.protocol) {
    case 'mqtt':
      server = createTcpServer(handle);
      break;
    case 'mqtts': {
      const tls = createTlsServer(tlsOptions(o.protocol, o.tls), handle);
      // A failed handshake (bad or missing client certificate, plain TCP on a TLS port) is the
      // client's problem; without this listener Node would log it as an unhandled error.
      tls.on('tlsClientError', () => undefined);
      server = tls;
      break;
    }
    case 'ws':
    case 'wss': {
      const http = o.protocol === 'ws' ? createHttpServer() : createHttpsServer(tlsOptions(o.protocol, o.tls));
      if (o.protocol === 'wss') http.on('tlsClientError', () => undefined);
      server = http;
      http.on('request', (_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end(`MQTT over WebSocket: connect with a WebSocket client to ${path}\n`);
      });
      wss = new WebSocketServer({
        server: http,
        path,
        // MQTT over WebSocket names the subprotocol "mqtt" (3.1.1) or "mqttv3.1"; refuse others.
        handleProtocols: (offered) => (offered.has('mqtt') ? 'mqtt' : offered.has('mqttv3.1') ? 'mqttv3.1' : false),
        maxPayload: maxFrameBytes,
      });
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws);
        const cn = clientCertificateId(req.socket);
        if (cn !== undefined) (stream as unknown as Record<symbol, string>)[CERT_ID] = cn;
        // The connect limit is kept per peer address; a WebSocket stream has none of its own.
        (stream as unknown as { remoteAddress?: string }).remoteAddress = req.socket.remoteAddress;
        // A peer that vanishes mid-frame must not surface as an uncaught stream error.
        stream.on('error', () => stream.destroy());
        handle(stream, req);
      });
      break;
    }
    default:
      throw new Error(`unknown listener protocol ${String((o as { protocol: unknown }).protocol)} (mqtt, mqtts, ws or wss)`);
  }
  const endAll = track(server);
  const port = await listen(server, o.port, host, o.protocol);
  let closing: Promise<void> | undefined;
  return {
    protocol: o.protocol,
    host,
    port,
    url: formatUrl(o.protocol, host, port, path),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        wss?.close();
        server.close(() => resolve());
        endAll();
      })),
  };
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
