// An unmodified Node tool calling a provider's public host. Node 20's own fetch ignores
// HTTPS_PROXY, so the proxy comes from undici's EnvHttpProxyAgent, which reads
// HTTPS_PROXY/HTTP_PROXY/NO_PROXY (with Basic credentials in the URL) as curl does;
// the CA comes from NODE_EXTRA_CA_CERTS, which Node adds to its trust store at start.
// Usage: node client.mjs METHOD URL [BODY]; prints {status, headers, body} as JSON.
import { EnvHttpProxyAgent, fetch } from "undici";

const [method, url, body] = process.argv.slice(2);
const headers = { "content-type": "application/json" };
if (process.env.RAILWAY_API_TOKEN) {
  headers.authorization = `Bearer ${process.env.RAILWAY_API_TOKEN}`;
}
try {
  const answer = await fetch(url, {
    method,
    body,
    headers,
    dispatcher: new EnvHttpProxyAgent(),
  });
  const text = await answer.text();
  console.log(JSON.stringify({
    status: answer.status,
    headers: Object.fromEntries(answer.headers),
    body: text,
  }));
} catch (error) {
  const cause = error.cause ?? error;
  console.log(JSON.stringify({ status: 0, error: String(cause.message ?? cause), code: cause.code ?? "" }));
}
