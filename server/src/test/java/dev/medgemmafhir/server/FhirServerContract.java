package dev.medgemmafhir.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.api.MethodOutcome;
import ca.uhn.fhir.rest.client.api.IGenericClient;
import ca.uhn.fhir.rest.client.api.ServerValidationModeEnum;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CapabilityStatement;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * What every database this server runs on must give a FHIR client, exercised over real HTTP.
 * Subclasses choose the database.
 */
abstract class FhirServerContract {

  static final FhirContext FHIR = FhirContext.forR4Cached();

  @LocalServerPort int port;

  IGenericClient client;
  HttpClient http = HttpClient.newHttpClient();

  @BeforeEach
  void connect() {
    FHIR.getRestfulClientFactory().setServerValidationMode(ServerValidationModeEnum.NEVER);
    // HAPI's client gives up after 10 s; a Synthea transaction on a busy 2-core machine can take longer.
    FHIR.getRestfulClientFactory().setSocketTimeout(120_000);
    client = FHIR.newRestfulGenericClient(base());
  }

  String base() {
    return "http://localhost:" + port + "/fhir";
  }

  HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
    return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void metadataDescribesAnR4ServerWithTheJpaResourceTypes() {
    CapabilityStatement cs = client.capabilities().ofType(CapabilityStatement.class).execute();
    assertThat(cs.getFhirVersion().toCode()).isEqualTo("4.0.1");
    assertThat(cs.getSoftware().getName()).isEqualTo("medgemma-fhir");
    assertThat(cs.getRestFirstRep().getResource())
        .extracting(r -> r.getType())
        .contains("Patient", "Encounter", "DocumentReference", "DiagnosticReport", "Provenance", "Device");
  }

  @Test
  void createReadUpdateSearchAndHistoryRoundTrip() {
    String family = "Roundtrip" + UUID.randomUUID().toString().substring(0, 8);
    Patient patient = new Patient();
    patient.addName().setFamily(family).addGiven("Ada");
    MethodOutcome created = client.create().resource(patient).execute();
    IdType id = (IdType) created.getId();
    assertThat(created.getCreated()).isTrue();

    Patient read = client.read().resource(Patient.class).withId(id.getIdPart()).execute();
    assertThat(read.getNameFirstRep().getFamily()).isEqualTo(family);

    read.getNameFirstRep().addGiven("Lovelace");
    MethodOutcome updated = client.update().resource(read).execute();
    assertThat(updated.getId().getVersionIdPart()).isEqualTo("2");

    Bundle found = client.search().forResource(Patient.class)
        .where(Patient.FAMILY.matchesExactly().value(family))
        .returnBundle(Bundle.class).execute();
    assertThat(found.getEntry()).hasSize(1);
    assertThat(((Patient) found.getEntryFirstRep().getResource()).getNameFirstRep().getGiven())
        .extracting(Object::toString).containsExactly("Ada", "Lovelace");

    Bundle history = client.history().onInstance(id.toUnqualifiedVersionless())
        .returnBundle(Bundle.class).execute();
    assertThat(history.getEntry()).hasSize(2);
  }

  @Test
  void transactionResolvesPlaceholderReferencesAndEverythingReturnsTheCompartment() {
    Bundle tx = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    Patient patient = new Patient();
    patient.addIdentifier().setSystem("urn:test:mrn").setValue(UUID.randomUUID().toString());
    String patientUuid = "urn:uuid:" + UUID.randomUUID();
    tx.addEntry().setFullUrl(patientUuid).setResource(patient)
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Patient");
    Encounter encounter = new Encounter();
    encounter.setStatus(Encounter.EncounterStatus.FINISHED);
    encounter.getClass_().setSystem("http://terminology.hl7.org/CodeSystem/v3-ActCode").setCode("AMB");
    encounter.setSubject(new Reference(patientUuid));
    tx.addEntry().setFullUrl("urn:uuid:" + UUID.randomUUID()).setResource(encounter)
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Encounter");

    Bundle response = client.transaction().withBundle(tx).execute();
    assertThat(response.getType()).isEqualTo(Bundle.BundleType.TRANSACTIONRESPONSE);
    assertThat(response.getEntry()).allSatisfy(e -> assertThat(e.getResponse().getStatus()).startsWith("201"));
    String patientId = new IdType(response.getEntry().get(0).getResponse().getLocation()).getIdPart();
    String encounterLocation = response.getEntry().get(1).getResponse().getLocation();

    Encounter stored = client.read().resource(Encounter.class)
        .withId(new IdType(encounterLocation).getIdPart()).execute();
    assertThat(stored.getSubject().getReference()).isEqualTo("Patient/" + patientId);

    Bundle everything = client.operation().onInstance(new IdType("Patient", patientId))
        .named("$everything").withNoParameters(org.hl7.fhir.r4.model.Parameters.class)
        .returnResourceType(Bundle.class).execute();
    assertThat(everything.getEntry())
        .extracting(e -> e.getResource().fhirType())
        .contains("Patient", "Encounter");
  }

  @Test
  void unknownIdIs404WithAnOperationOutcome() throws Exception {
    assertThatThrownBy(() -> client.read().resource(Patient.class).withId("does-not-exist").execute())
        .isInstanceOf(ResourceNotFoundException.class);
    HttpResponse<String> raw = send(HttpRequest.newBuilder(URI.create(base() + "/Patient/does-not-exist")));
    assertThat(raw.statusCode()).isEqualTo(404);
    assertThat(FHIR.newJsonParser().parseResource(raw.body())).isInstanceOf(OperationOutcome.class);
  }

  @Test
  void invalidJsonIs400WithAnOperationOutcomeAndWritesNothing() throws Exception {
    int before = countPatients();
    HttpResponse<String> raw = send(HttpRequest.newBuilder(URI.create(base() + "/Patient"))
        .header("Content-Type", "application/fhir+json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"resourceType\":\"Patient\",")));
    assertThat(raw.statusCode()).isEqualTo(400);
    OperationOutcome outcome = (OperationOutcome) FHIR.newJsonParser().parseResource(raw.body());
    assertThat(outcome.getIssueFirstRep().getSeverity()).isEqualTo(OperationOutcome.IssueSeverity.ERROR);
    assertThat(outcome.getIssueFirstRep().getDiagnostics()).contains("JSON");
    assertThat(countPatients()).isEqualTo(before);
  }

  @Test
  void unknownResourceTypeIs404AndWrongTypeInBodyIs400() throws Exception {
    HttpResponse<String> unknownType = send(HttpRequest.newBuilder(URI.create(base() + "/NotAType/1")));
    assertThat(unknownType.statusCode()).isEqualTo(404);
    HttpResponse<String> wrongBody = send(HttpRequest.newBuilder(URI.create(base() + "/Patient"))
        .header("Content-Type", "application/fhir+json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"resourceType\":\"Observation\",\"status\":\"final\"}")));
    assertThat(wrongBody.statusCode()).isEqualTo(400);
  }

  @Test
  void transactionFailingHalfwayWritesNothing() {
    int before = countPatients();
    Bundle tx = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    tx.addEntry().setResource(new Patient().addName(new org.hl7.fhir.r4.model.HumanName().setFamily("Atomic")))
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Patient");
    tx.addEntry().setResource(new Encounter().setStatus(Encounter.EncounterStatus.FINISHED)
            .setSubject(new Reference("Patient/missing-" + UUID.randomUUID())))
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Encounter");
    assertThatThrownBy(() -> client.transaction().withBundle(tx).execute())
        .hasMessageContaining("missing-");
    assertThat(countPatients()).isEqualTo(before);
  }

  /** The port of {@code /actuator/*}: the main port unless {@code management.server.port} is set. */
  int actuatorPort() {
    return port;
  }

  @Test
  void probesAnswerOnTheMainPortAndMetricsOnTheActuatorPort() throws Exception {
    String root = "http://localhost:" + port;
    assertThat(send(HttpRequest.newBuilder(URI.create(root + "/livez"))).statusCode()).isEqualTo(200);
    HttpResponse<String> ready = send(HttpRequest.newBuilder(URI.create(root + "/readyz")));
    assertThat(ready.statusCode()).isEqualTo(200);
    assertThat(ready.body()).contains("\"UP\"");
    HttpResponse<String> metrics = send(HttpRequest.newBuilder(
        URI.create("http://localhost:" + actuatorPort() + "/actuator/prometheus")));
    assertThat(metrics.statusCode()).isEqualTo(200);
    assertThat(metrics.body()).contains("jvm_memory_used_bytes");
    if (actuatorPort() != port) {
      // A separate management port: the main port (what an ingress publishes) serves no metrics.
      assertThat(send(HttpRequest.newBuilder(URI.create(root + "/actuator/prometheus"))).statusCode()).isEqualTo(404);
    }
  }

  @Test
  void syntheaPatientsLoadAsTransactionsWithEveryReferenceResolved() {
    String fixture = SyntheaFixtures.PATIENTS.get(2);
    Bundle source = SyntheaFixtures.read(FHIR, fixture);
    long encountersInFile = source.getEntry().stream()
        .filter(e -> e.getResource().fhirType().equals("Encounter")).count();

    Bundle response = SyntheaFixtures.loadPatient(client, fixture);

    assertThat(response.getEntry()).hasSameSizeAs(source.getEntry());
    assertThat(response.getEntry()).allSatisfy(e -> assertThat(e.getResponse().getStatus()).startsWith("201"));
    String patientId = new IdType(response.getEntryFirstRep().getResponse().getLocation()).getIdPart();
    Bundle encounters = client.search().forResource(Encounter.class)
        .where(Encounter.PATIENT.hasId(patientId)).count(200)
        .returnBundle(Bundle.class).execute();
    assertThat(encounters.getEntry()).hasSize((int) encountersInFile);
    Encounter first = (Encounter) encounters.getEntryFirstRep().getResource();
    // Conditional references (Organization?identifier=...) were resolved to real ids.
    assertThat(first.getServiceProvider().getReference()).startsWith("Organization/").doesNotContain("?");
    assertThat(first.getParticipantFirstRep().getIndividual().getReference())
        .startsWith("Practitioner/").doesNotContain("?");

    // Loading the reference data again creates no duplicates (conditional creates).
    SyntheaFixtures.loadPatient(client, SyntheaFixtures.PATIENTS.get(1));
    Bundle organizations = client.search().forResource(org.hl7.fhir.r4.model.Organization.class)
        .where(org.hl7.fhir.r4.model.Organization.IDENTIFIER.exactly()
            .identifier(((org.hl7.fhir.r4.model.Organization) SyntheaFixtures.read(FHIR, SyntheaFixtures.REFERENCE_DATA.get(0))
                .getEntry().stream().filter(e -> e.getResource() instanceof org.hl7.fhir.r4.model.Organization)
                .findFirst().orElseThrow().getResource()).getIdentifierFirstRep().getValue()))
        .returnBundle(Bundle.class).execute();
    assertThat(organizations.getEntry()).hasSize(1);
  }

  int countPatients() {
    Bundle b = client.search().forResource(Patient.class).summaryMode(ca.uhn.fhir.rest.api.SummaryEnum.COUNT)
        .returnBundle(Bundle.class).execute();
    return b.getTotal();
  }
}
