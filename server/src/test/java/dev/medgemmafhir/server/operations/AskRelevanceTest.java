package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.context.FhirContext;
import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.operations.context.ClinicalFact;
import dev.medgemmafhir.operations.context.FactText;
import dev.medgemmafhir.operations.context.RecordSection;
import dev.medgemmafhir.operations.context.RecordSections;
import dev.medgemmafhir.operations.prompt.ClinicalSynonyms;
import dev.medgemmafhir.operations.prompt.ContextBudget;
import dev.medgemmafhir.operations.prompt.Relevance;
import dev.medgemmafhir.server.SyntheaFixtures;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.Immunization;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Procedure;
import org.hl7.fhir.r4.model.Resource;
import org.junit.jupiter.api.Test;

/**
 * How often the resource that answers a question reaches the prompt of {@code $ask}, on the committed
 * Synthea patients: questions whose answer is a known resource (the newest observation, procedure,
 * immunization or medication order of a kind; a recorded condition), facts read by the default record
 * sections, fitted into 2k and 8k tokens of context (512 kept for the answer) by BM25 relevance and, for
 * comparison, by section priority and recency (what a summary does). Tokens are counted as the scripted
 * engine does (4 characters a token, about Gemma's rate on English). The numbers go to BENCHMARKS.md.
 */
class AskRelevanceTest {

  static final FhirContext FHIR = FhirContext.forR4Cached();
  /** BM25 on the question's own words (stemmed), no synonym expansion: the baseline the synonyms are measured against. */
  static final Relevance WORDS_ONLY = new Relevance(ClinicalSynonyms.none());

  /** A question and the resources any one of which answers it. */
  record Question(String text, Set<String> answers) {}

  /**
   * How clinicians ask, in words the record does not use (a LOINC or CVX code, the question), for the
   * second measurement: the answer is the newest resource with that code.
   */
  static final Map<String, String> PARAPHRASED = new LinkedHashMap<>();

  static {
    PARAPHRASED.put("4548-4", "When was her last HbA1c, and is it trending up?");
    PARAPHRASED.put("39156-5", "What is her BMI now?");
    PARAPHRASED.put("85354-9", "What was her last blood pressure?");
    PARAPHRASED.put("2093-3", "What was her total cholesterol?");
    PARAPHRASED.put("2571-8", "Are her triglycerides high?");
    PARAPHRASED.put("18262-6", "What is her LDL?");
    PARAPHRASED.put("29463-7", "How much does she weigh?");
    PARAPHRASED.put("8867-4", "What is her pulse?");
    PARAPHRASED.put("38483-4", "How is her kidney function?");
    PARAPHRASED.put("2339-0", "What was her last blood sugar?");
    PARAPHRASED.put("72166-2", "Does she smoke?");
    PARAPHRASED.put("140", "When did she last get a flu shot?");
  }

  /**
   * Paraphrases written before the synonym list ({@code clinical-synonyms.txt}) was extended and never used to
   * tune it: whether query expansion generalises beyond the twelve questions above.
   */
  static final Map<String, String> HELD_OUT = new LinkedHashMap<>();

  static {
    HELD_OUT.put("8302-2", "How tall is she?");
    HELD_OUT.put("9279-1", "How fast is she breathing?");
    HELD_OUT.put("2085-9", "Is her good cholesterol ok?");
    HELD_OUT.put("6298-4", "Is her K low?");
    HELD_OUT.put("2947-0", "What was her Na?");
    HELD_OUT.put("6299-2", "What was her BUN?");
    HELD_OUT.put("72514-3", "How much does it hurt?");
    HELD_OUT.put("70274-6", "How anxious is she?");
    HELD_OUT.put("55758-7", "Is she depressed?");
    HELD_OUT.put("75626-2", "How much does she drink?");
    HELD_OUT.put("718-7", "Is she anaemic?");
    HELD_OUT.put("6690-2", "What is her white count?");
    HELD_OUT.put("8310-5", "Did she have a fever?");
    HELD_OUT.put("33914-3", "What is her eGFR?");
    HELD_OUT.put("113", "When was her last Tdap booster?");
    HELD_OUT.put("121", "Has she had the shingles vaccine?");
    HELD_OUT.put("20565-8", "What is her bicarb?");
    HELD_OUT.put("49765-1", "What was her Ca level?");
  }

  @Test
  void bm25BringsTheAnsweringResourceIntoTheContextFarMoreOftenThanRecency() {
    Map<String, int[]> worded = measure("worded as the record", AskRelevanceTest::questions);
    Map<String, int[]> paraphrased = measure("paraphrased", r -> byCode(PARAPHRASED, r));
    Map<String, int[]> heldOut = measure("held-out paraphrases", r -> byCode(HELD_OUT, r));
    int[] small = worded.get("2048");
    int[] large = worded.get("8192");
    assertThat(small[2]).as("questions asked").isGreaterThan(50);
    assertThat(small[0]).as("BM25 at 2k beats recency at 2k").isGreaterThan(small[1]);
    assertThat(100.0 * small[0] / small[2]).as("BM25 recall at 2k, %").isGreaterThan(80);
    assertThat(large[0]).as("more context never loses an answer").isGreaterThanOrEqualTo(small[0]);
    assertThat(paraphrased.get("2048")[2]).as("paraphrased questions asked").isGreaterThan(20);
    assertThat(paraphrased.get("2048")[0]).as("BM25 on paraphrases at 2k, not below recency")
        .isGreaterThanOrEqualTo(paraphrased.get("2048")[1]);
    for (Map<String, int[]> set : List.of(worded, paraphrased, heldOut)) {
      for (int[] t : set.values()) {
        assertThat(t[0]).as("synonyms never lose an answer the question's own words found").isGreaterThanOrEqualTo(t[3]);
      }
    }
    int[] heldSmall = heldOut.get("2048");
    assertThat(heldSmall[2]).as("held-out questions asked").isGreaterThan(30);
    assertThat(heldSmall[0]).as("synonyms help questions they were not written for, at 2k")
        .isGreaterThan(heldSmall[3]);
  }

  static Map<String, int[]> measure(String kind, Function<List<Resource>, List<Question>> ask) {
    List<String> rows = new ArrayList<>();
    Map<String, int[]> totals = new LinkedHashMap<>();
    for (String fixture : SyntheaFixtures.PATIENTS) {
      List<Resource> resources = resources(fixture);
      List<ClinicalFact> facts = facts(resources);
      List<Question> questions = ask.apply(resources);
      for (int context : new int[] {2048, 8192}) {
        int byRelevance = 0;
        int byRecency = 0;
        int byWordsOnly = 0;
        for (Question q : questions) {
          byRelevance += hit(q, fitted(context, Relevance.rank(q.text(), facts))) ? 1 : 0;
          byWordsOnly += hit(q, fitted(context, WORDS_ONLY.ranked(q.text(), facts))) ? 1 : 0;
          byRecency += hit(q, fitted(context, facts.stream().sorted(ClinicalFact.PRIORITY).toList())) ? 1 : 0;
        }
        rows.add(String.format(Locale.ROOT,
            "%s, %s: %d facts, %d questions, context %d: BM25 %d/%d, without synonyms %d/%d, recency %d/%d",
            kind, fixture, facts.size(), questions.size(), context, byRelevance, questions.size(), byWordsOnly,
            questions.size(), byRecency, questions.size()));
        int[] t = totals.computeIfAbsent(Integer.toString(context), k -> new int[4]);
        t[0] += byRelevance;
        t[1] += byRecency;
        t[2] += questions.size();
        t[3] += byWordsOnly;
      }
    }
    rows.forEach(System.out::println);
    totals.forEach((context, t) -> System.out.printf(Locale.ROOT,
        "%s, all patients, context %s: BM25 %d/%d (%.0f %%), without synonyms %d/%d (%.0f %%), recency %d/%d (%.0f %%)%n",
        kind, context, t[0], t[2], 100.0 * t[0] / t[2], t[3], t[2], 100.0 * t[3] / t[2], t[1], t[2],
        100.0 * t[1] / t[2]));
    return totals;
  }

  static List<Question> byCode(Map<String, String> asked, List<Resource> resources) {
    List<Question> questions = new ArrayList<>();
    asked.forEach((code, text) -> {
      Map<String, String> newest = new LinkedHashMap<>();
      newest.putAll(newest(resources, Observation.class,
          o -> o.getCode().getCoding().stream().anyMatch(c -> code.equals(c.getCode())) ? code : null,
          o -> FactText.when(o.getEffective())));
      newest.putAll(newest(resources, Immunization.class,
          i -> i.getVaccineCode().getCoding().stream().anyMatch(c -> code.equals(c.getCode())) ? code : null,
          i -> FactText.when(i.getOccurrence())));
      if (newest.containsKey(code)) {
        questions.add(new Question(text, Set.of(newest.get(code))));
      }
    });
    return questions;
  }

  static boolean hit(Question q, List<ClinicalFact> included) {
    return included.stream().anyMatch(f -> q.answers().contains(f.reference()));
  }

  static List<ClinicalFact> fitted(int context, List<ClinicalFact> ordered) {
    ScriptedEngine engine = ScriptedEngine.images("measure", context, 256, r -> "");
    return ContextBudget.fitInOrder(engine, ordered, 512, lines -> List.of(
        ChatMessage.system("You are a clinical assistant. Answer from the facts; cite them as [C1]."),
        ChatMessage.user("Patient: female, 54 years old\n\nFacts:\n" + String.join("\n", lines)
            + "\n\nQuestion: a question of about twelve words about this patient"))).included();
  }

  static List<Resource> resources(String fixture) {
    Bundle bundle = SyntheaFixtures.read(FHIR, fixture);
    List<Resource> resources = new ArrayList<>();
    for (Bundle.BundleEntryComponent entry : bundle.getEntry()) {
      Resource r = entry.getResource();
      // Transaction entries have urn:uuid ids; the server would give them ids, this gives them their uuid.
      r.setId(r.fhirType() + "/" + entry.getFullUrl().replace("urn:uuid:", "") + "/_history/1");
      resources.add(r);
    }
    return resources;
  }

  static List<ClinicalFact> facts(List<Resource> resources) {
    List<ClinicalFact> facts = new ArrayList<>();
    for (RecordSection section : RecordSections.defaults()) {
      resources.stream().filter(r -> r.fhirType().equals(section.resourceType()))
          .map(section::fact).flatMap(Optional::stream).forEach(facts::add);
    }
    return facts;
  }

  /** One question per kind of thing the record holds; its answer the newest resource of that kind. */
  static List<Question> questions(List<Resource> resources) {
    List<Question> questions = new ArrayList<>();
    newest(resources, Observation.class, o -> FactText.concept(o.getCode()), o -> FactText.when(o.getEffective()))
        .forEach((name, ref) -> questions.add(new Question("What was the last " + shortName(name) + "?", Set.of(ref))));
    newest(resources, Procedure.class, p -> FactText.concept(p.getCode()), p -> FactText.when(p.getPerformed()))
        .forEach((name, ref) -> questions.add(new Question("When did she last have a " + shortName(name) + "?",
            Set.of(ref))));
    newest(resources, Immunization.class, i -> FactText.concept(i.getVaccineCode()),
        i -> FactText.when(i.getOccurrence()))
        .forEach((name, ref) -> questions.add(new Question("When was the last " + shortName(name) + " vaccine?",
            Set.of(ref))));
    newest(resources, MedicationRequest.class, m -> m.hasMedicationCodeableConcept()
        ? FactText.concept(m.getMedicationCodeableConcept()) : null, m -> FactText.instant(m.getAuthoredOn()))
        .forEach((name, ref) -> questions.add(new Question("Was " + shortName(name) + " prescribed?", Set.of(ref))));
    Map<String, Set<String>> conditions = new LinkedHashMap<>();
    resources.stream().filter(r -> r instanceof Condition).map(r -> (Condition) r)
        .forEach(c -> conditions.computeIfAbsent(FactText.concept(c.getCode()), k -> new HashSet<>())
            .add(FactText.versioned(c)));
    conditions.forEach((name, refs) -> questions.add(new Question("Has she ever had " + shortName(name) + "?", refs)));
    return questions;
  }

  /** The first three words, lower case, without the bracketed qualifiers: how a clinician would say it. */
  static String shortName(String display) {
    String plain = display.replaceAll("\\(.*?\\)|\\[.*?\\]", " ").toLowerCase(Locale.ROOT).strip();
    String[] words = plain.split("\\s+");
    return String.join(" ", java.util.Arrays.copyOf(words, Math.min(3, words.length)));
  }

  static <T extends Resource> Map<String, String> newest(List<Resource> resources, Class<T> type,
      Function<T, String> name, Function<T, java.time.Instant> when) {
    Map<String, T> newest = new LinkedHashMap<>();
    resources.stream().filter(type::isInstance).map(type::cast).filter(r -> name.apply(r) != null)
        .sorted(Comparator.comparing(when, Comparator.nullsFirst(Comparator.naturalOrder())))
        .forEach(r -> newest.put(name.apply(r), r));
    Map<String, String> refs = new LinkedHashMap<>();
    newest.forEach((n, r) -> refs.put(n, FactText.versioned(r)));
    return refs;
  }
}
