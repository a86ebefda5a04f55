package dev.medgemmafhir.server.wiring;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.transparency.DeviceUpgrade;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Meta;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;

/**
 * Upgrades each model's stored Device to the AI-Device form as the model becomes ready. It starts
 * listening once the application is ready (the FHIR storage and its search parameters are up by then);
 * models that loaded earlier are upgraded at that moment.
 */
@Configuration
public class DeviceUpgradeWiring {

  @Bean
  public DeviceUpgrade deviceUpgrade(IFhirSystemDao<Bundle, Meta> systemDao, DaoRegistry daos) {
    return new DeviceUpgrade(systemDao, daos);
  }

  @EventListener(ApplicationReadyEvent.class)
  public void upgradeDevicesAsModelsLoad(ApplicationReadyEvent event) {
    ModelCatalog catalog = event.getApplicationContext().getBean(ModelCatalog.class);
    DeviceUpgrade upgrade = event.getApplicationContext().getBean(DeviceUpgrade.class);
    catalog.whenReady(upgrade::upgrade);
  }
}
