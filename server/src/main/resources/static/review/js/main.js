// Start-up: read the server's settings, sign in (SMART App Launch) unless security is off, then
// route between the worklist (#/) and the review screen (#/review/{type}/{id}).
import { FhirClient } from './fhir.js';
import { clear, h, showMessage } from './dom.js';
import { authorize, currentSession, LaunchError, signOut } from './smart.js';
import { showWorklist } from './worklist.js';
import { showReview } from './review.js';

const main = document.getElementById('main');

window.addEventListener('unhandledrejection', (event) => showMessage('Something went wrong: ' + (event.reason && event.reason.message
  ? event.reason.message : event.reason), 'error'));
window.addEventListener('error', (event) => showMessage('Something went wrong: ' + event.message, 'error'));

async function start() {
  let config;
  try {
    const response = await fetch('config.json', { cache: 'no-store' });
    if (!response.ok) throw new Error(String(response.status));
    config = await response.json();
  } catch (e) {
    fail('The server cannot be reached (its settings could not be loaded). Try again later.');
    return;
  }
  config.fhirBase = config.fhirBase || new URL('/fhir', location.href).href;
  const app = { securityEnabled: config.securityEnabled, imagesBase: new URL('api', location.href).href };

  let session = { patient: null };
  if (config.securityEnabled) {
    try {
      session = await authorize(config);
    } catch (e) {
      fail(e instanceof LaunchError ? e.message : 'Signing in failed: ' + e.message, signInAgain());
      return;
    }
  } else {
    const banner = document.getElementById('security-banner');
    banner.textContent = 'SECURITY IS OFF: this server accepts every request without sign-in '
      + '(medgemma.security.enabled=false). Use it only with synthetic data.';
    banner.hidden = false;
  }
  showWho(session);
  const fhir = new FhirClient(config.fhirBase, () => (config.securityEnabled ? (currentSession() || session).accessToken : null));

  const route = async () => {
    const hash = location.hash || '#/';
    const review = /^#\/review\/(DocumentReference|DiagnosticReport)\/([A-Za-z0-9\-.]{1,64})$/.exec(hash);
    showMessage('');
    if (review) {
      await showReview(main, fhir, app, review[1], review[2]);
    } else {
      const query = hash.includes('?') ? hash.slice(hash.indexOf('?') + 1) : '';
      await showWorklist(main, fhir, session, new URLSearchParams(query));
      main.querySelector('h2').setAttribute('tabindex', '-1');
    }
  };
  window.addEventListener('hashchange', route);
  await route();
}

function showWho(session) {
  const who = document.getElementById('who');
  if (!session.accessToken) {
    who.textContent = 'Not signed in';
    return;
  }
  who.textContent = `Signed in${session.fhirUser ? ' as ' + session.fhirUser : ''}`
    + (session.patient ? ` · patient Patient/${session.patient}` : '');
  const button = document.getElementById('sign-out');
  button.hidden = false;
  button.addEventListener('click', () => {
    signOut();
    clear(main).append(h('h2', {}, 'Signed out'), signInAgain());
    who.textContent = 'Not signed in';
    button.hidden = true;
  });
}

function signInAgain() {
  return h('button', { type: 'button', id: 'sign-in', onclick: () => {
    signOut();
    location.assign(location.pathname);
  } }, 'Sign in again');
}

function fail(message, action) {
  clear(main).append(h('h2', { tabindex: '-1' }, 'Cannot continue'));
  showMessage(message, 'error', '', action || null);
}

start();
