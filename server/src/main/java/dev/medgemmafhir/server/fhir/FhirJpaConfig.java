package dev.medgemmafhir.server.fhir;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.IDaoRegistry;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.config.util.ResourceCountCacheUtil;
import ca.uhn.fhir.jpa.dao.FulltextSearchSvcImpl;
import ca.uhn.fhir.jpa.dao.IFulltextSearchSvc;
import ca.uhn.fhir.jpa.dao.search.HSearchSortHelperImpl;
import ca.uhn.fhir.jpa.dao.search.IHSearchSortHelper;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.provider.DaoRegistryResourceSupportedSvc;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.search.IStaleSearchDeletingSvc;
import ca.uhn.fhir.jpa.search.StaleSearchDeletingSvcImpl;
import ca.uhn.fhir.jpa.util.ResourceCountCache;
import ca.uhn.fhir.rest.api.IResourceSupportedSvc;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import jakarta.persistence.EntityManagerFactory;
import java.util.Map;
import javax.sql.DataSource;
import org.hibernate.boot.model.naming.CamelCaseToUnderscoresNamingStrategy;
import org.hibernate.cfg.AvailableSettings;
import org.hibernate.search.mapper.orm.cfg.HibernateOrmMapperSettings;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.autoconfigure.jdbc.DataSourceProperties;
import org.springframework.boot.autoconfigure.orm.jpa.JpaProperties;
import org.springframework.boot.orm.jpa.hibernate.SpringImplicitNamingStrategy;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

/**
 * The storage side of the HAPI JPA server: entity manager, transactions, storage settings and
 * the few services HAPI expects the application to provide.
 */
@Configuration
@Import(ThreadPoolFactoryConfig.class)
public class FhirJpaConfig {

  @Bean
  public JpaStorageSettings jpaStorageSettings(FhirServerProperties properties) {
    JpaStorageSettings settings = new JpaStorageSettings();
    settings.setAllowExternalReferences(properties.allowExternalReferences());
    // Integration engines send transactions with conditional references (Patient?identifier=...).
    settings.setAllowInlineMatchUrlReferences(true);
    settings.setAllowMultipleDelete(false);
    settings.setDeleteExpungeEnabled(false);
    settings.setExpungeEnabled(false);
    // Retries of a conditional create (the operations rely on it for idempotency) must
    // find the first resource, so match URLs are indexed.
    settings.setUniqueIndexesEnabled(true);
    settings.setIndexMissingFields(JpaStorageSettings.IndexEnabledEnum.DISABLED);
    settings.setDefaultSearchParamsCanBeOverridden(true);
    return settings;
  }

  @Bean
  public PartitionSettings partitionSettings() {
    return new PartitionSettings();
  }

  @Bean
  public SubscriptionSettings subscriptionSettings() {
    return new SubscriptionSettings();
  }

  @Primary
  @Bean
  public LocalContainerEntityManagerFactoryBean entityManagerFactory(
      ConfigurableListableBeanFactory beanFactory,
      FhirContext fhirContext,
      JpaStorageSettings storageSettings,
      JpaProperties jpaProperties,
      DataSourceProperties dataSourceProperties,
      DataSource dataSource) {
    LocalContainerEntityManagerFactoryBean factory =
        HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
    Map<String, String> props = jpaProperties.getProperties();
    props.putIfAbsent(AvailableSettings.DIALECT, DatabaseDialect.forJdbcUrl(dataSourceProperties.getUrl()));
    props.putIfAbsent(AvailableSettings.SCANNER, "org.hibernate.boot.archive.scan.internal.DisabledScanner");
    props.putIfAbsent(AvailableSettings.IMPLICIT_NAMING_STRATEGY, SpringImplicitNamingStrategy.class.getName());
    props.putIfAbsent(
        AvailableSettings.PHYSICAL_NAMING_STRATEGY, CamelCaseToUnderscoresNamingStrategy.class.getName());
    // The schema is created on first start and extended on upgrade.
    props.putIfAbsent(AvailableSettings.HBM2DDL_AUTO, "update");
    props.putIfAbsent(AvailableSettings.STATEMENT_BATCH_SIZE, "20");
    props.putIfAbsent(AvailableSettings.USE_QUERY_CACHE, "false");
    props.putIfAbsent(AvailableSettings.USE_SECOND_LEVEL_CACHE, "false");
    props.putIfAbsent(AvailableSettings.FORMAT_SQL, "false");
    props.putIfAbsent(AvailableSettings.SHOW_SQL, "false");
    // No Lucene/Elasticsearch: full-text search is not part of this server.
    props.putIfAbsent(HibernateOrmMapperSettings.ENABLED, "false");
    factory.setPersistenceUnitName("HAPI_PU");
    factory.setJpaPropertyMap(props);
    factory.setDataSource(dataSource);
    return factory;
  }

  @Primary
  @Bean
  public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
    return new JpaTransactionManager(entityManagerFactory);
  }

  @Bean
  public IFulltextSearchSvc fullTextSearchSvc() {
    return new FulltextSearchSvcImpl();
  }

  @Bean
  public IHSearchSortHelper hSearchSortHelper(ISearchParamRegistry searchParamRegistry) {
    return new HSearchSortHelperImpl(searchParamRegistry);
  }

  @Bean
  public IStaleSearchDeletingSvc staleSearchDeletingSvc() {
    return new StaleSearchDeletingSvcImpl();
  }

  @Bean
  public DatabaseBackedPagingProvider databaseBackedPagingProvider(FhirServerProperties properties) {
    DatabaseBackedPagingProvider paging = new DatabaseBackedPagingProvider();
    paging.setDefaultPageSize(properties.defaultPageSize());
    paging.setMaximumPageSize(properties.maxPageSize());
    return paging;
  }

  @Bean
  public IResourceSupportedSvc resourceSupportedSvc(IDaoRegistry daoRegistry) {
    return new DaoRegistryResourceSupportedSvc(daoRegistry);
  }

  @Bean(name = "myResourceCountsCache")
  public ResourceCountCache resourceCountsCache(IFhirSystemDao<?, ?> systemDao) {
    return ResourceCountCacheUtil.newResourceCountCache(systemDao);
  }
}
