// FHIR over fetch: JSON in and out, the access token on every call, and every failure turned
// into a FhirError with a message a clinician can act on.

export class FhirError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the server could not be reached
   * @param {string} message what went wrong, in words
   * @param {string} [diagnostics] the server's OperationOutcome diagnostics
   */
  constructor(status, message, diagnostics) {
    super(message);
    this.status = status;
    this.diagnostics = diagnostics || '';
  }
}

export class FhirClient {
  /**
   * @param {string} base FHIR base URL without a trailing slash
   * @param {() => (string|null)} token the current access token, or null without security
   */
  constructor(base, token) {
    this.base = base.replace(/\/+$/, '');
    this.token = token;
  }

  /** An absolute URL for a path relative to the base (a full URL is kept if it is on the base). */
  url(path) {
    if (/^https?:/.test(path)) {
      if (!path.startsWith(this.base + '/') && !path.startsWith(this.base + '?')) {
        throw new FhirError(0, 'Refusing to follow a link to another server: ' + path);
      }
      return path;
    }
    return this.base + '/' + path.replace(/^\/+/, '');
  }

  headers(extra) {
    const headers = { Accept: 'application/fhir+json', ...extra };
    const token = this.token();
    if (token) headers.Authorization = 'Bearer ' + token;
    return headers;
  }

  async request(method, path, body) {
    let response;
    try {
      response = await fetch(this.url(path), {
        method,
        headers: this.headers(body ? { 'Content-Type': 'application/fhir+json' } : {}),
        body: body ? JSON.stringify(body) : undefined,
        cache: 'no-store',
      });
    } catch (e) {
      if (e instanceof FhirError) throw e;
      throw new FhirError(0, 'The FHIR server cannot be reached. Check your connection and try again.');
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (e) {
      json = null;
    }
    if (!response.ok) {
      throw errorFor(response.status, json);
    }
    return json;
  }

  get(path) {
    return this.request('GET', path);
  }

  post(path, body) {
    return this.request('POST', path, body);
  }

  /** Fetches a binary (an image) with the token; returns a Blob. */
  async blob(url) {
    let response;
    try {
      response = await fetch(url, { headers: this.headers({ Accept: 'image/png, image/jpeg' }), cache: 'no-store' });
    } catch (e) {
      throw new FhirError(0, 'The server cannot be reached.');
    }
    if (!response.ok) {
      let json = null;
      try {
        json = await response.json();
      } catch (e) {
        json = null;
      }
      throw errorFor(response.status, json);
    }
    return response.blob();
  }
}

function errorFor(status, json) {
  const diagnostics = json && json.resourceType === 'OperationOutcome'
    ? (json.issue || []).map((i) => i.diagnostics || (i.details && i.details.text) || '').filter(Boolean).join(' ')
    : '';
  let message;
  if (status === 401) {
    message = 'Your sign-in has expired or was not accepted (401). Sign in again to continue.';
  } else if (status === 403) {
    message = 'You are not allowed to do this (403).';
  } else if (status === 404) {
    message = 'Not found (404).';
  } else if (status === 409 || status === 412) {
    message = 'Someone else changed this draft meanwhile (' + status + '). Nothing of yours was saved; reload to see the current version.';
  } else if (status >= 500) {
    message = 'The server failed (' + status + '). Try again later.';
  } else {
    message = 'The request was refused (' + status + ').';
  }
  return new FhirError(status, message, diagnostics);
}

/** The resources of a search Bundle, by type; and its link of a relation. */
export function entries(bundle, type) {
  return ((bundle && bundle.entry) || []).map((e) => e.resource).filter((r) => r && (!type || r.resourceType === type));
}

export function link(bundle, relation) {
  const found = ((bundle && bundle.link) || []).find((l) => l.relation === relation);
  return found ? found.url : null;
}

/** UTF-8 text of a base64 attachment. */
export function attachmentText(attachment) {
  if (!attachment || !attachment.data) return '';
  const bytes = Uint8Array.from(atob(attachment.data), (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8').decode(bytes);
}
