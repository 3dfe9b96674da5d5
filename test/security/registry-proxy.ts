// A TLS-terminating, basic-auth-checking reverse proxy in front of a plain schema registry, as a managed registry (or
// nginx in front of Apicurio) would be: the tests' stand-in for a protected registry, since the local stack's
// Apicurio has no auth configured (docs/security.md). Certificate and key from the secure stack's CA.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface RegistryProxy {
  /** The proxy's API base (https://127.0.0.1:<port><path of the target>), without credentials. */
  readonly url: string;
  /** Requests answered, by the user they came with ('' without); 401s included. */
  readonly requests: { user: string; status: number; path: string }[];
  close(): Promise<void>;
}

export async function registryProxy(options: {
  readonly target: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly username: string;
  readonly password: string;
}): Promise<RegistryProxy> {
  const target = new URL(options.target);
  const expected = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  const requests: RegistryProxy['requests'] = [];
  const server: Server = createServer(
    { cert: readFileSync(options.certFile), key: readFileSync(options.keyFile) },
    (req, res) => {
      const auth = req.headers.authorization ?? '';
      const user = auth.startsWith('Basic ')
        ? Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':')[0]!
        : '';
      if (auth !== expected) {
        requests.push({ user, status: 401, path: req.url ?? '' });
        res.writeHead(401, {
          'WWW-Authenticate': 'Basic realm="registry"',
          'Content-Type': 'application/json',
        });
        res.end('{"error_code":401,"message":"Unauthorized"}');
        return;
      }
      const headers = { ...req.headers, host: target.host };
      delete headers.authorization;
      const upstream = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
        (up) => {
          requests.push({ user, status: up.statusCode ?? 0, path: req.url ?? '' });
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      req.pipe(upstream);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}${target.pathname.replace(/\/$/, '')}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
