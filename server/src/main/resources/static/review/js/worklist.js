// The worklist: AI drafts awaiting review (AIAST-labelled, preliminary), newest first,
// filtered by patient, kind and date, one page at a time through the Bundles' links.
import { entries, link } from './fhir.js';
import { clear, conceptText, formatDate, h, humanName, showError } from './dom.js';

export const AIAST = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue|AIAST';
const PAGE_SIZE = 10;

const KINDS = {
  // The input prompt stored with each draft (AI Transparency) is AIAST-labelled too, but it is not a draft.
  DocumentReference: { label: 'Summary', date: 'date', sort: '-date',
    status: `status=current&type:not=${encodeURIComponent('http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIinputsCS|AIInputPrompt')}` },
  DiagnosticReport: { label: 'Imaging report', date: 'issued', status: 'status=preliminary', sort: '-issued' },
};

/** Is this resource still a draft awaiting review? */
export function isDraft(resource) {
  if (resource.resourceType === 'DocumentReference') {
    return resource.status !== 'entered-in-error' && (!resource.docStatus || resource.docStatus === 'preliminary');
  }
  return ['registered', 'partial', 'preliminary'].includes(resource.status);
}

/**
 * @param {HTMLElement} main
 * @param {import('./fhir.js').FhirClient} fhir
 * @param {{patient?: string}} session the token's patient context, if any
 * @param {URLSearchParams} filters kind, patient, since
 */
export async function showWorklist(main, fhir, session, filters) {
  const kind = KINDS[filters.get('kind')] ? filters.get('kind') : 'all';
  const patient = session.patient || filters.get('patient') || '';
  const since = filters.get('since') || '';
  document.title = 'Worklist · AI draft review';

  const list = h('div', { id: 'worklist-results', 'aria-live': 'polite' });
  clear(main).append(
    h('h2', {}, 'AI drafts awaiting review'),
    filterForm(kind, patient, since, Boolean(session.patient)),
    list);

  const first = {};
  for (const type of kind === 'all' ? Object.keys(KINDS) : [kind]) {
    const k = KINDS[type];
    const query = [`_security=${encodeURIComponent(AIAST)}`, k.status, `_sort=${k.sort}`, `_count=${PAGE_SIZE}`];
    if (patient) query.push(`subject=${encodeURIComponent('Patient/' + patient.replace(/^Patient\//, ''))}`);
    if (since) query.push(`${k.date}=ge${encodeURIComponent(since)}`);
    first[type] = `${type}?${query.join('&')}`;
  }
  await showPage(list, fhir, first, 1);
}

function filterForm(kind, patient, since, patientFixed) {
  const onsubmit = (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    const params = new URLSearchParams();
    for (const name of ['kind', 'patient', 'since']) {
      const value = String(data.get(name) || '').trim();
      if (value && !(name === 'kind' && value === 'all')) params.set(name, value);
    }
    location.hash = '#/' + (params.toString() ? '?' + params : '');
  };
  const option = (value, text) => h('option', { value, selected: value === kind }, text);
  return h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter drafts', onsubmit },
    h('div', { class: 'field' },
      h('label', { for: 'filter-kind' }, 'Kind'),
      h('select', { id: 'filter-kind', name: 'kind' },
        option('all', 'All drafts'), option('DocumentReference', 'Summaries'), option('DiagnosticReport', 'Imaging reports'))),
    h('div', { class: 'field' },
      h('label', { for: 'filter-patient' }, 'Patient id'),
      h('input', { id: 'filter-patient', name: 'patient', value: patient, disabled: patientFixed,
        'aria-describedby': patientFixed ? 'patient-fixed' : null, autocomplete: 'off' }),
      patientFixed ? h('span', { id: 'patient-fixed', class: 'hint' }, 'set by your sign-in') : null),
    h('div', { class: 'field' },
      h('label', { for: 'filter-since' }, 'Written on or after'),
      h('input', { id: 'filter-since', name: 'since', type: 'date', value: since })),
    h('button', { type: 'submit', id: 'apply-filters' }, 'Apply filters'));
}

/** Shows one page: {type: url} of each kind's search (or its next/previous link). */
async function showPage(list, fhir, urls, pageNumber) {
  clear(list).append(h('p', { class: 'loading' }, 'Loading drafts…'));
  let bundles;
  try {
    bundles = await Promise.all(Object.entries(urls).map(async ([type, url]) => [type, await fhir.get(url)]));
  } catch (e) {
    clear(list);
    showError(e);
    return;
  }
  const drafts = bundles.flatMap(([type, bundle]) => entries(bundle, type)).filter(isDraft)
    .sort((a, b) => dateOf(b).localeCompare(dateOf(a)));
  const next = {};
  const previous = {};
  for (const [type, bundle] of bundles) {
    if (link(bundle, 'next')) next[type] = link(bundle, 'next');
    if (link(bundle, 'previous') || link(bundle, 'prev')) previous[type] = link(bundle, 'previous') || link(bundle, 'prev');
  }
  const names = await patientNames(fhir, drafts);

  clear(list);
  if (!drafts.length) {
    list.append(h('p', { class: 'empty', id: 'worklist-empty' }, pageNumber === 1
      ? 'No AI drafts are waiting for review.' : 'No more drafts on this page.'));
  } else {
    list.append(h('table', { class: 'worklist', id: 'worklist' },
      h('caption', {}, `Page ${pageNumber}: ${drafts.length} draft${drafts.length === 1 ? '' : 's'}, newest first`),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Draft'), h('th', { scope: 'col' }, 'Kind'), h('th', { scope: 'col' }, 'Patient'),
        h('th', { scope: 'col' }, 'Written'))),
      h('tbody', {}, drafts.map((d) => h('tr', { 'data-id': `${d.resourceType}/${d.id}` },
        h('td', {}, h('a', { href: `#/review/${d.resourceType}/${d.id}`, class: 'open-draft' }, draftTitle(d))),
        h('td', {}, KINDS[d.resourceType].label),
        h('td', {}, names.get(subjectOf(d)) || subjectOf(d)),
        h('td', {}, formatDate(dateOf(d))))))));
  }
  const nav = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  if (Object.keys(previous).length && pageNumber > 1) {
    nav.append(h('button', { type: 'button', id: 'previous-page', onclick: () => showPage(list, fhir, previous, pageNumber - 1) },
      'Previous page'));
  }
  if (Object.keys(next).length) {
    nav.append(h('button', { type: 'button', id: 'next-page', onclick: () => showPage(list, fhir, next, pageNumber + 1) },
      'Next page'));
  }
  list.append(nav);
}

export function draftTitle(resource) {
  return conceptText(resource.type) || conceptText(resource.code) || `${resource.resourceType}/${resource.id}`;
}

function dateOf(resource) {
  return resource.date || resource.issued || (resource.meta && resource.meta.lastUpdated) || '';
}

function subjectOf(resource) {
  return (resource.subject && resource.subject.reference) || '';
}

/** Patient names for the rows; a patient the token cannot read keeps its id. */
async function patientNames(fhir, drafts) {
  const names = new Map();
  const ids = [...new Set(drafts.map(subjectOf).filter((s) => s.startsWith('Patient/')))];
  await Promise.all(ids.map(async (id) => {
    try {
      names.set(id, humanName(await fhir.get(id)) || id);
    } catch (e) {
      names.set(id, id);
    }
  }));
  return names;
}
