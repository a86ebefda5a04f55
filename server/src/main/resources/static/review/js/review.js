// The review screen: the draft beside its sources, what the model was and what it left out,
// who else reviewed it, and the decision ($verify).
import { attachmentText, entries, FhirError } from './fhir.js';
import { clear, clearMessage, formatDate, h, humanName, showError, showMessage } from './dom.js';
import { render, splitSources } from './markdown.js';
import { describe, title } from './sources.js';
import { draftTitle, isDraft } from './worklist.js';

const INPUT_SUMMARY = 'https://medgemma-fhir.dev/fhir/StructureDefinition/ai-input-summary';
const AI_PROVENANCE = 'http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Provenance';
const DICOM_UID = 'urn:dicom:uid';

/**
 * @param {HTMLElement} main
 * @param {import('./fhir.js').FhirClient} fhir
 * @param {{securityEnabled: boolean, imagesBase: string}} app
 * @param {string} type DocumentReference or DiagnosticReport
 * @param {string} id
 */
export async function showReview(main, fhir, app, type, id) {
  clear(main).append(h('p', { class: 'loading' }, 'Loading the draft…'));
  let draft;
  try {
    draft = await fhir.get(`${type}/${encodeURIComponent(id)}`);
  } catch (e) {
    clear(main).append(h('h2', { tabindex: '-1', id: 'review-heading' }, 'Draft not available'),
      h('p', {}, h('a', { href: '#/' }, 'Back to the worklist')));
    showError(e);
    return;
  }
  const provenances = await fhir.get(`Provenance?target=${type}/${encodeURIComponent(id)}&_count=100`)
    .then((b) => entries(b, 'Provenance'))
    .catch((e) => {
      showMessage('The draft\'s provenance could not be read: ' + e.message, 'warning', e.diagnostics);
      return [];
    });
  const aiProvenance = provenances.find(isAiProvenance) || null;
  const device = await deviceOf(fhir, draft, aiProvenance);
  const reviews = provenances.filter((p) => agentOf(p, 'verifier'));
  const reviewers = await names(fhir, reviews.map((p) => agentOf(p, 'verifier').who.reference));
  const patientName = await fhir.get(draft.subject.reference).then(humanName).catch(() => draft.subject.reference);

  render$(main, fhir, app, { draft, aiProvenance, device, reviews, reviewers, patientName });
}

function render$(main, fhir, app, model) {
  const { draft, aiProvenance, device, reviews, reviewers, patientName } = model;
  const ref = `${draft.resourceType}/${draft.id}`;
  const report = draft.resourceType === 'DiagnosticReport';
  const attachment = report ? (draft.presentedForm || [])[0] : ((draft.content || [])[0] || {}).attachment;
  const markdown = attachmentText(attachment);
  const { body, sources } = splitSources(markdown);
  document.title = `${draftTitle(draft)} · AI draft review`;

  const sourcePanel = h('section', { class: 'panel source', id: 'source', 'aria-labelledby': 'source-heading' },
    h('h3', { id: 'source-heading', tabindex: '-1' }, 'Cited source'),
    h('p', { class: 'hint', id: 'source-body' }, 'Choose a citation in the draft to see the resource it rests on.'));

  const citation = (key) => {
    const target = sources.get(key);
    if (!target) return null;
    return h('a', {
      href: fhir.url(target), class: 'citation', 'data-key': key, 'data-reference': target,
      'aria-label': `Source ${key}: ${target.replace(/\/_history\/.*/, '')}`,
      onclick: (event) => {
        event.preventDefault();
        openSource(fhir, sourcePanel, key, target);
      },
    }, key);
  };

  const draftText = h('div', { class: 'draft-text', id: 'draft-text' }, render(body, citation));
  const conclusion = report ? h('div', { class: 'conclusion' },
    h('h4', {}, 'Conclusion'), h('p', { id: 'draft-conclusion' }, draft.conclusion || '(none)')) : null;

  const summary = inputSummary(draft);
  const deviceName = device ? ((device.deviceName || [])[0] || {}).name || `Device/${device.id}` : 'unknown model';
  const deviceVersion = device ? (device.version || []).map((v) => v.value).filter(Boolean).join(', ') : '';
  const stillDraft = isDraft(draft);

  clear(main).append(
    h('div', { class: 'ai-banner', id: 'ai-banner', role: 'note', 'aria-label': 'AI-generated' },
      h('strong', {}, 'AI-generated draft. '),
      stillDraft ? 'Not yet verified by a clinician: check every statement against its sources.' : `Review finished: ${statusOf(draft)}.`,
      h('span', { class: 'model', id: 'model' }, ` Model: ${deviceName}${deviceVersion ? ' (version ' + deviceVersion + ')' : ''}.`)),
    h('p', { class: 'back' }, h('a', { href: '#/', id: 'back-to-worklist' }, '← Back to the worklist')),
    h('h2', { tabindex: '-1', id: 'review-heading' }, draftTitle(draft)),
    h('p', { class: 'meta' },
      `${patientName} · written ${formatDate(draft.date || draft.issued)} · status `,
      h('span', { id: 'draft-status', class: 'status status-' + statusOf(draft) }, statusOf(draft)),
      ` · version ${(draft.meta && draft.meta.versionId) || '?'}`),
    h('div', { class: 'columns' },
      h('section', { class: 'panel draft', 'aria-labelledby': 'draft-heading' },
        h('h3', { id: 'draft-heading' }, 'Draft'), draftText, conclusion,
        sources.size ? h('p', { class: 'hint' }, `${sources.size} cited source${sources.size === 1 ? '' : 's'}; each citation opens its source.`)
          : h('p', { class: 'hint' }, 'This draft cites no sources.')),
      h('div', { class: 'side' },
        sources.size ? sourcePanel : null,
        report ? imagesPanel(fhir, app, draft, aiProvenance) : null,
        h('section', { class: 'panel', 'aria-labelledby': 'left-out-heading', id: 'left-out' },
          h('h3', { id: 'left-out-heading' }, 'What the model did not see'), summary),
        h('section', { class: 'panel', 'aria-labelledby': 'reviews-heading', id: 'reviews' },
          h('h3', { id: 'reviews-heading' }, 'Reviews'),
          reviews.length ? h('ul', {}, reviews.map((p) => {
            const who = agentOf(p, 'verifier').who.reference;
            return h('li', { class: 'review' }, `${reviewers.get(who) || who}: ${(p.activity && p.activity.text) || 'review'}`,
              ` on ${formatDate(p.recorded)}`, (p.reason || []).filter((r) => r.text).map((r) => h('q', {}, r.text)));
          })) : h('p', {}, 'No clinician has reviewed this draft yet.')))),
    stillDraft ? decisionForm(fhir, app, draft, body, markdown, () => showReview(main, fhir, app, draft.resourceType, draft.id))
      : h('p', { class: 'done', id: 'decision-done' }, `This draft is ${statusOf(draft)}; it can no longer be changed here.`));
  document.getElementById('review-heading').focus();
}

async function openSource(fhir, panel, key, target) {
  const body = h('div', { id: 'source-body' }, h('p', { class: 'loading' }, 'Loading…'));
  clear(panel).append(h('h3', { id: 'source-heading', tabindex: '-1' }, `Cited source ${key}`), body);
  try {
    const resource = await fhir.get(target);
    clear(body).append(
      h('p', { class: 'source-title', id: 'source-title' }, title(resource)),
      describe(resource),
      h('p', { class: 'hint' }, `${target} (the version the model saw)`));
  } catch (e) {
    clear(body).append(h('p', { class: 'error' }, `${target} could not be read: ${e.message}`));
  }
  panel.querySelector('h3').focus();
}

function imagesPanel(fhir, app, report, aiProvenance) {
  const images = ((aiProvenance && aiProvenance.entity) || [])
    .map((e) => e.what || {})
    .filter((what) => !what.reference && (what.identifier || what.display));
  const dicom = images.filter((what) => what.identifier && what.identifier.system === DICOM_UID);
  const list = h('ul', { class: 'images', id: 'images' });
  dicom.forEach((what, index) => {
    const label = what.display || what.identifier.value;
    const item = h('li', {}, h('p', { class: 'loading' }, `Loading ${label}…`));
    list.append(item);
    fhir.blob(`${app.imagesBase}/DiagnosticReport/${encodeURIComponent(report.id)}/images/${index}`)
      .then((blob) => clear(item).append(h('figure', {},
        h('img', { src: URL.createObjectURL(blob), alt: `Image the model saw: ${label}` }), h('figcaption', {}, label))))
      .catch((e) => clear(item).append(h('p', { class: 'error' }, `${label} could not be shown: ${e.message}`)));
  });
  images.filter((what) => !dicom.includes(what)).forEach((what) => list.append(h('li', {},
    `${what.display} (sent with the request; not stored, so it cannot be shown here)`)));
  return h('section', { class: 'panel', 'aria-labelledby': 'images-heading' },
    h('h3', { id: 'images-heading' }, 'Images the model saw'),
    images.length ? list : h('p', {}, 'The provenance lists no images.'));
}

function inputSummary(draft) {
  const ext = (draft.extension || []).find((e) => e.url === INPUT_SUMMARY);
  if (!ext) return h('p', {}, 'The draft does not say what was left out.');
  const value = (name) => {
    const found = (ext.extension || []).find((e) => e.url === name);
    return found ? found.valueInteger ?? found.valueCode ?? found.valueString : undefined;
  };
  const rows = [];
  if (value('factsIncluded') !== undefined) rows.push(`${value('factsIncluded')} facts given to the model, ${value('factsOmitted') || 0} left out`);
  for (const omitted of (ext.extension || []).filter((e) => e.url === 'omitted')) {
    const type = (omitted.extension || []).find((e) => e.url === 'resourceType');
    const count = (omitted.extension || []).find((e) => e.url === 'count');
    rows.push(`left out: ${count ? count.valueInteger : '?'} × ${type ? type.valueCode : '?'}`);
  }
  if (value('imagesIncluded') !== undefined) rows.push(`${value('imagesIncluded')} images seen, ${value('imagesOmitted') || 0} left out`);
  if (value('unknownCitations')) rows.push(`${value('unknownCitations')} citations pointed nowhere and were removed`);
  if (value('stopReason')) rows.push(`generation stopped: ${String(value('stopReason')).replace(/_/g, ' ')}`);
  return h('ul', { class: 'summary' }, rows.map((r) => h('li', {}, r)));
}

function decisionForm(fhir, app, draft, body, markdown, reload) {
  const report = draft.resourceType === 'DiagnosticReport';
  const loadedVersion = draft.meta && draft.meta.versionId;
  const text = h('textarea', { id: 'edit-text', name: 'text', rows: 14 });
  text.value = markdown;
  const conclusion = report ? h('textarea', { id: 'edit-conclusion', name: 'conclusion', rows: 3 }) : null;
  if (conclusion) conclusion.value = draft.conclusion || '';
  const note = h('textarea', { id: 'review-note', name: 'note', rows: 2 });
  const practitioner = app.securityEnabled ? null
    : h('input', { id: 'reviewer', name: 'practitioner', placeholder: 'Practitioner/123', required: true, autocomplete: 'off' });
  const buttons = [];

  const decide = async (decision) => {
    clearMessage();
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const current = await fhir.get(`${draft.resourceType}/${draft.id}`);
      if (current.meta && loadedVersion && current.meta.versionId !== loadedVersion) {
        throw new FhirError(409, `Someone else changed this draft meanwhile (version ${loadedVersion} is now ${current.meta.versionId}). `
          + 'Nothing of yours was saved; reload to see the current version before deciding.');
      }
      const parameter = [{ name: 'decision', valueCode: decision }];
      if (decision === 'accept' && text.value !== markdown) parameter.push({ name: 'text', valueString: text.value });
      if (decision === 'accept' && conclusion && conclusion.value !== (draft.conclusion || '')) {
        parameter.push({ name: 'conclusion', valueString: conclusion.value });
      }
      if (note.value.trim()) parameter.push({ name: 'note', valueString: note.value.trim() });
      if (practitioner) parameter.push({ name: 'practitioner', valueReference: { reference: practitioner.value.trim() } });
      const result = await fhir.post(`${draft.resourceType}/${draft.id}/$verify`, { resourceType: 'Parameters', parameter });
      await reload();
      showMessage(decision === 'accept'
        ? `Accepted: ${draft.resourceType}/${draft.id} is now ${statusOf(result)} (version ${result.meta && result.meta.versionId}).`
        : `Rejected: ${draft.resourceType}/${draft.id} is marked entered-in-error.`, 'success');
    } catch (e) {
      buttons.forEach((b) => { b.disabled = false; });
      showError(e, e.status === 409
        ? h('button', { type: 'button', id: 'reload-draft', onclick: () => { clearMessage(); reload(); } }, 'Reload the draft') : null);
    }
  };

  const accept = h('button', { type: 'submit', id: 'accept', class: 'accept' }, 'Accept and sign');
  const reject = h('button', { type: 'button', id: 'reject', class: 'reject', onclick: () => decide('reject') }, 'Reject');
  buttons.push(accept, reject);
  const edit = h('details', { class: 'edit', id: 'edit' },
    h('summary', {}, report ? 'Edit the report and its conclusion' : 'Edit the text'),
    h('label', { for: 'edit-text' }, 'Draft text (Markdown; keep the citations you checked)'), text,
    conclusion ? [h('label', { for: 'edit-conclusion' }, 'Conclusion'), conclusion] : null);
  return h('form', { class: 'panel decision', id: 'decision', 'aria-labelledby': 'decision-heading',
    onsubmit: (event) => { event.preventDefault(); decide('accept'); } },
  h('h3', { id: 'decision-heading' }, 'Your decision'),
  edit,
  h('label', { for: 'review-note' }, 'Note for the record (optional)'), note,
  practitioner ? [h('label', { for: 'reviewer' }, 'Reviewer (Practitioner reference; required while security is off)'), practitioner] : null,
  h('div', { class: 'actions' }, accept, reject));
}

function statusOf(resource) {
  return resource.resourceType === 'DocumentReference'
    ? (resource.status === 'entered-in-error' ? 'entered-in-error' : resource.docStatus || 'preliminary')
    : resource.status;
}

function isAiProvenance(p) {
  return ((p.meta && p.meta.profile) || []).includes(AI_PROVENANCE) || Boolean(agentOf(p, 'author'));
}

function agentOf(provenance, type) {
  return (provenance.agent || []).find((a) => ((a.type && a.type.coding) || []).some((c) => c.code === type)
    && a.who && a.who.reference) || null;
}

async function deviceOf(fhir, draft, aiProvenance) {
  const author = aiProvenance ? agentOf(aiProvenance, 'author') : null;
  const reference = (author && author.who.reference)
    || ((draft.author || []).map((a) => a.reference).find((r) => r && r.startsWith('Device/')));
  if (!reference) return null;
  return fhir.get(reference).catch(() => null);
}

async function names(fhir, references) {
  const result = new Map();
  await Promise.all([...new Set(references)].map(async (r) => {
    result.set(r, await fhir.get(r).then((x) => humanName(x) || r).catch(() => r));
  }));
  return result;
}
