// SMART App Launch 2.2 for a public client: standalone and EHR launch, authorization code with
// PKCE (S256). The token lives in sessionStorage only (gone when the tab closes).

const SESSION_KEY = 'medgemma-review.session';
const LAUNCH_KEY = 'medgemma-review.launch';

export class LaunchError extends Error {}

/** The stored session ({accessToken, expiresAt, scope, patient, fhirUser}) or null. */
export function currentSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    return session && session.accessToken ? session : null;
  } catch (e) {
    return null;
  }
}

export function signOut() {
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(LAUNCH_KEY);
}

/** Where the issuer sends the browser back: this page, without query or fragment. */
export function redirectUri() {
  return location.origin + location.pathname;
}

/**
 * Completes a launch in progress, or uses the stored session, or starts a new launch (which
 * navigates away and never resolves).
 *
 * @param {{fhirBase: string, clientId: string, scope: string}} config
 */
export async function authorize(config) {
  const params = new URLSearchParams(location.search);
  if (params.has('error')) {
    history.replaceState(null, '', redirectUri() + location.hash);
    throw new LaunchError('The sign-in was refused: ' + params.get('error')
      + (params.get('error_description') ? ' (' + params.get('error_description') + ')' : ''));
  }
  if (params.has('code')) {
    return completeLaunch(params);
  }
  if (params.has('iss') || params.has('launch')) {
    return startLaunch(config, params.get('iss'), params.get('launch'));
  }
  const session = currentSession();
  if (session && (!session.expiresAt || session.expiresAt > Date.now())) {
    return session;
  }
  return startLaunch(config, null, null);
}

async function startLaunch(config, iss, launch) {
  if (iss && normalise(iss) !== normalise(config.fhirBase)) {
    // Only the FHIR server that serves this app gets a token from it.
    throw new LaunchError('This app was launched for another FHIR server (' + iss + '); it only works with '
      + config.fhirBase + '.');
  }
  if (launch && !iss) {
    throw new LaunchError('An EHR launch needs both "launch" and "iss".');
  }
  const smart = await discover(config.fhirBase);
  const verifier = randomText(48);
  const state = randomText(24);
  const challenge = base64Url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  sessionStorage.setItem(LAUNCH_KEY, JSON.stringify({
    state, verifier, tokenEndpoint: smart.token_endpoint, clientId: config.clientId, redirectUri: redirectUri(),
    hash: location.hash,
  }));
  sessionStorage.removeItem(SESSION_KEY);
  const scope = launch ? 'launch ' + config.scope : config.scope;
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: redirectUri(),
    scope,
    state,
    aud: config.fhirBase,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  if (launch) query.set('launch', launch);
  location.assign(smart.authorization_endpoint + (smart.authorization_endpoint.includes('?') ? '&' : '?') + query);
  return new Promise(() => {});
}

async function discover(fhirBase) {
  let response;
  try {
    response = await fetch(fhirBase.replace(/\/+$/, '') + '/.well-known/smart-configuration',
      { headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new LaunchError('The FHIR server cannot be reached to sign in.');
  }
  if (!response.ok) {
    throw new LaunchError('The FHIR server publishes no SMART configuration (' + response.status + ').');
  }
  const smart = await response.json();
  if (!smart.authorization_endpoint || !smart.token_endpoint) {
    throw new LaunchError('The SMART configuration names no authorization or token endpoint.');
  }
  if (!(smart.code_challenge_methods_supported || []).includes('S256')) {
    throw new LaunchError('The authorization server does not support PKCE with S256.');
  }
  return smart;
}

async function completeLaunch(params) {
  const launch = JSON.parse(sessionStorage.getItem(LAUNCH_KEY) || 'null');
  sessionStorage.removeItem(LAUNCH_KEY);
  if (!launch || launch.state !== params.get('state')) {
    history.replaceState(null, '', redirectUri());
    throw new LaunchError('This sign-in does not match the one this tab started (state mismatch). Reload to sign in again.');
  }
  let response;
  try {
    response = await fetch(launch.tokenEndpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: params.get('code'),
        redirect_uri: launch.redirectUri,
        client_id: launch.clientId,
        code_verifier: launch.verifier,
      }),
    });
  } catch (e) {
    throw new LaunchError('The authorization server cannot be reached to finish signing in.');
  }
  const token = await response.json().catch(() => ({}));
  if (!response.ok || !token.access_token) {
    throw new LaunchError('The authorization server refused the sign-in: ' + (token.error || response.status));
  }
  const session = {
    accessToken: token.access_token,
    expiresAt: token.expires_in ? Date.now() + token.expires_in * 1000 : null,
    scope: token.scope || '',
    patient: token.patient || null,
    fhirUser: claim(token.id_token, 'fhirUser') || claim(token.access_token, 'fhirUser'),
  };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  history.replaceState(null, '', launch.redirectUri + (launch.hash || ''));
  return session;
}

/** A claim of a JWT's payload, for display only (the server checks the token). */
function claim(jwt, name) {
  if (!jwt || jwt.split('.').length < 2) return null;
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload + '==='.slice((payload.length + 3) % 4)))[name] || null;
  } catch (e) {
    return null;
  }
}

function normalise(url) {
  return String(url || '').replace(/\/+$/, '');
}

function randomText(bytes) {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64Url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
