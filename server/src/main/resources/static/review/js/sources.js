// A cited resource as a clinician reads it: the few elements that matter, labelled in words.
import { attachmentText, } from './fhir.js';
import { conceptText, formatDate, h, humanName } from './dom.js';

const EXCERPT = 600;

/** A definition list of the resource's clinically relevant elements. */
export function describe(resource) {
  const rows = rowsFor(resource).filter(([, value]) => value !== '' && value !== null && value !== undefined);
  if (!rows.length) rows.push(['Resource', resource.resourceType + '/' + resource.id]);
  return h('dl', { class: 'facts' }, rows.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

/** One line naming the resource, e.g. "Observation: Hemoglobin". */
export function title(resource) {
  const what = conceptText(resource.code) || conceptText(resource.type) || conceptText(resource.medicationCodeableConcept)
    || humanName(resource) || resource.id;
  return `${resource.resourceType}: ${what}`;
}

function rowsFor(r) {
  switch (r.resourceType) {
    case 'Observation':
      return [
        ['Test', conceptText(r.code)],
        ['Value', observationValue(r)],
        ['Interpretation', (r.interpretation || []).map(conceptText).join(', ')],
        ['Reference range', (r.referenceRange || []).map(range).join('; ')],
        ['Date', formatDate(r.effectiveDateTime || (r.effectivePeriod && r.effectivePeriod.start) || r.issued)],
        ['Status', r.status],
        ['Components', (r.component || []).map((c) => `${conceptText(c.code)}: ${observationValue(c)}`).join('; ')],
      ];
    case 'Condition':
      return [
        ['Condition', conceptText(r.code)],
        ['Onset', formatDate(r.onsetDateTime || (r.onsetPeriod && r.onsetPeriod.start)) || r.onsetString || ''],
        ['Abatement', formatDate(r.abatementDateTime || (r.abatementPeriod && r.abatementPeriod.start)) || ''],
        ['Clinical status', conceptText(r.clinicalStatus)],
        ['Verification', conceptText(r.verificationStatus)],
        ['Recorded', formatDate(r.recordedDate)],
      ];
    case 'DocumentReference':
      return [
        ['Note', conceptText(r.type)],
        ['Date', formatDate(r.date)],
        ['Excerpt', excerpt(attachmentText(((r.content || [])[0] || {}).attachment))],
      ];
    case 'DiagnosticReport':
      return [
        ['Report', conceptText(r.code)],
        ['Date', formatDate(r.effectiveDateTime || r.issued)],
        ['Conclusion', r.conclusion || ''],
        ['Excerpt', excerpt(attachmentText((r.presentedForm || [])[0]))],
      ];
    case 'MedicationRequest':
    case 'MedicationAdministration':
    case 'MedicationStatement':
      return [
        ['Medication', conceptText(r.medicationCodeableConcept) || (r.medicationReference && r.medicationReference.display) || ''],
        ['Dosage', (r.dosageInstruction || []).map((d) => d.text).filter(Boolean).join('; ') || (r.dosage && r.dosage.text) || ''],
        ['Date', formatDate(r.authoredOn || r.effectiveDateTime || (r.effectivePeriod && r.effectivePeriod.start))],
        ['Status', r.status],
      ];
    case 'Procedure':
      return [
        ['Procedure', conceptText(r.code)],
        ['Performed', formatDate(r.performedDateTime || (r.performedPeriod && r.performedPeriod.start))],
        ['Status', r.status],
      ];
    case 'AllergyIntolerance':
      return [
        ['Allergy', conceptText(r.code)],
        ['Criticality', r.criticality],
        ['Reactions', (r.reaction || []).flatMap((x) => (x.manifestation || []).map(conceptText)).join(', ')],
        ['Recorded', formatDate(r.recordedDate)],
      ];
    case 'Encounter':
      return [
        ['Encounter', (r.type || []).map(conceptText).join(', ') || (r.class && (r.class.display || r.class.code)) || ''],
        ['Period', [formatDate(r.period && r.period.start), formatDate(r.period && r.period.end)].filter(Boolean).join(' to ')],
        ['Reason', (r.reasonCode || []).map(conceptText).join(', ')],
        ['Status', r.status],
      ];
    case 'Patient':
      return [['Name', humanName(r)], ['Born', r.birthDate], ['Sex', r.gender]];
    case 'ImagingStudy':
      return [
        ['Study', r.description || (r.procedureCode || []).map(conceptText).join(', ')],
        ['Started', formatDate(r.started)],
        ['Series', String((r.series || []).length)],
      ];
    default:
      return [['Type', r.resourceType], ['Code', conceptText(r.code)], ['Status', r.status || '']];
  }
}

function observationValue(o) {
  if (o.valueQuantity) return `${o.valueQuantity.value ?? ''} ${o.valueQuantity.unit || o.valueQuantity.code || ''}`.trim();
  if (o.valueCodeableConcept) return conceptText(o.valueCodeableConcept);
  if (o.valueString !== undefined) return o.valueString;
  if (o.valueBoolean !== undefined) return String(o.valueBoolean);
  if (o.valueInteger !== undefined) return String(o.valueInteger);
  if (o.valueDateTime) return formatDate(o.valueDateTime);
  return o.dataAbsentReason ? 'not recorded: ' + conceptText(o.dataAbsentReason) : '';
}

function range(rr) {
  if (rr.text) return rr.text;
  const q = (x) => (x ? `${x.value}${x.unit ? ' ' + x.unit : ''}` : '');
  return [q(rr.low), q(rr.high)].every((x) => !x) ? '' : `${q(rr.low) || '…'} – ${q(rr.high) || '…'}`;
}

function excerpt(text) {
  const clean = (text || '').trim();
  return clean.length > EXCERPT ? clean.slice(0, EXCERPT) + '…' : clean;
}
