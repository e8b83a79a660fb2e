// capbroker through oauth4webapi (panva's strict RFC client), as an agent's or a resource
// server's code would call it. Each run discovers the authorization server (RFC 8414) and
// performs one step. The job is a JSON object on stdin (secrets stay off the command line);
// the answer is one JSON object on stdout: {ok: ...} or {raised: {...}} with what the
// library threw.
//
// The broker under test is on plain http on 127.0.0.1, so every call passes the library's
// documented test switch, the `allowInsecureRequests` symbol option; nothing else is relaxed.
//
// Jobs (`step`):
//   discover                                   -> the metadata the library accepted
//   exchange   {parameters}                    -> RFC 8693 token exchange (auth method none)
//   client_credentials                         -> a grant the broker does not offer
//   introspect {auth, client_id, secret, token, hint?} -> RFC 7662 (auth: basic | post)
//   revoke     {auth, client_id, secret, token, hint?} -> RFC 7009
//   validate   {audience, token, algorithms?}   -> RFC 9068 validateJwtAccessToken
import * as oauth from "oauth4webapi";

const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const insecure = { [oauth.allowInsecureRequests]: true };

async function describe(error) {
  const raised = {
    name: error.constructor?.name ?? typeof error,
    message: String(error.message ?? error),
    code: error.code,
  };
  if (error instanceof oauth.ResponseBodyError) {
    raised.error = error.error;
    raised.error_description = error.error_description;
    raised.status = error.status;
    raised.body = error.cause;
  } else if (error instanceof oauth.WWWAuthenticateChallengeError) {
    raised.status = error.status;
    raised.challenges = error.cause;
    // The library stops at the challenge; the RFC 6749 5.2 body is still there to read.
    raised.body = JSON.parse(await error.response.text());
  }
  return raised;
}

function clientAuth(job) {
  switch (job.auth) {
    case "basic":
      return oauth.ClientSecretBasic(job.secret);
    case "post":
      return oauth.ClientSecretPost(job.secret);
    default:
      throw new Error(`unknown auth ${job.auth}`);
  }
}

function hinted(job) {
  return job.hint ? { additionalParameters: { token_type_hint: job.hint } } : {};
}

async function discover(issuer) {
  const expected = new URL(issuer);
  const answer = await oauth.discoveryRequest(expected, { algorithm: "oauth2", ...insecure });
  return oauth.processDiscoveryResponse(expected, answer);
}

const steps = {
  async discover(as) {
    return as;
  },
  async exchange(as, job) {
    const client = { client_id: job.client_id ?? "claude-code" };
    const answer = await oauth.genericTokenEndpointRequest(
      as, client, oauth.None(), EXCHANGE, job.parameters, insecure,
    );
    return oauth.processGenericTokenEndpointResponse(as, client, answer);
  },
  async client_credentials(as, job) {
    const client = { client_id: job.client_id ?? "claude-code" };
    const answer = await oauth.clientCredentialsGrantRequest(
      as, client, oauth.None(), new URLSearchParams(), insecure,
    );
    return oauth.processClientCredentialsResponse(as, client, answer);
  },
  async introspect(as, job) {
    const client = { client_id: job.client_id };
    const answer = await oauth.introspectionRequest(
      as, client, clientAuth(job), job.token, { ...insecure, ...hinted(job) },
    );
    return oauth.processIntrospectionResponse(as, client, answer);
  },
  async revoke(as, job) {
    const client = { client_id: job.client_id };
    const answer = await oauth.revocationRequest(
      as, client, clientAuth(job), job.token, { ...insecure, ...hinted(job) },
    );
    await oauth.processRevocationResponse(answer);
    return { revoked: true };
  },
  async validate(as, job) {
    // A resource server's view of an incoming call: the token in its Authorization header.
    const request = new Request("https://rs.example/things", {
      headers: { authorization: `Bearer ${job.token}` },
    });
    const options = { ...insecure };
    if (job.algorithms) options.signingAlgorithms = job.algorithms;
    return oauth.validateJwtAccessToken(as, request, job.audience, options);
  },
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks).toString("utf8"));
let result;
try {
  const as = await discover(job.issuer);
  result = { ok: await steps[job.step](as, job) };
} catch (error) {
  result = { raised: await describe(error) };
}
console.log(JSON.stringify(result));
