// Building the page from data without ever parsing HTML: strings always become text nodes.
import { signOut } from './smart.js';

/**
 * h('a', {href: '#/', class: 'x', onclick: fn}, 'text', node, [more])
 * Attributes starting with "on" become event listeners; null/false attributes are left out.
 */
export function h(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      node.className = value;
    } else if (value === true) {
      node.setAttribute(name, '');
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** Shows one message in the page's alert region (replacing the previous one). */
export function showMessage(text, kind = 'error', details = '', action = null) {
  const region = document.getElementById('messages');
  clear(region);
  if (!text) return;
  region.appendChild(h('div', { class: 'message message-' + kind, 'data-kind': kind },
    h('p', {}, text),
    details ? h('p', { class: 'details' }, details) : null,
    action));
}

/** Shows a failed request; an expired or refused token (401) gets a way to sign in again. */
export function showError(error, action = null) {
  const signIn = error.status === 401 && !action
    ? h('button', { type: 'button', id: 'sign-in', onclick: () => { signOut(); location.assign(location.pathname); } }, 'Sign in again')
    : action;
  showMessage(error.message, 'error', error.diagnostics || '', signIn);
}

export function clearMessage() {
  showMessage('');
}

/** A date (or date-time) as a clinician reads it: 2026-11-30 14:05. */
export function formatDate(value) {
  if (!value) return '';
  if (/^\d{4}(-\d{2}(-\d{2})?)?$/.test(value)) return value;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** The text of a CodeableConcept: its text, else the first coding's display, else system|code. */
export function conceptText(concept) {
  if (!concept) return '';
  if (concept.text) return concept.text;
  const coding = (concept.coding || []).find((c) => c.display) || (concept.coding || [])[0];
  return coding ? coding.display || `${coding.code || ''}` : '';
}

export function humanName(patient) {
  const name = (patient && patient.name && patient.name[0]) || null;
  if (!name) return '';
  if (name.text) return name.text;
  return [...(name.given || []), name.family].filter(Boolean).join(' ');
}
