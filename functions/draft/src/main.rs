//! Lambda main of the draft function: dictionaries and clients once, then the SQS handler.
//!
//! Environment: VIGIE_CONFIG (which brands draft with Bedrock), VIGIE_TABLE (comments,
//! brand content, drafts), VIGIE_DICTIONARIES (the Hunspell folder packaged with the
//! function; default /usr/share/hunspell).

use lambda_runtime::{LambdaEvent, service_fn};
use vigie_aws::DynamoStore;
use vigie_aws::function::{brands, init_tracing, leak, required};
use vigie_core::config::Drafting;
use vigie_core::draft::{DraftEngine, GroundedEngine};
use vigie_core::drafting::{Drafter, EngineSet};
use vigie_draft::bedrock::BedrockEngine;
use vigie_draft::handler::handle;
use vigie_draft::spelling::HunspellSpeller;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let speller = leak(HunspellSpeller::from_env()?);
    let aws = vigie_aws::sdk_config().await;
    let store = leak(DynamoStore::from_conf(&aws, required("VIGIE_TABLE")?));
    // the grounded engine for every brand; Bedrock's Converse too for the brands that
    // choose it (its drafts pass the same checks; the grounded ones stand when it fails)
    let mut engines = EngineSet::grounded(leak(GroundedEngine));
    for brand in brands()?.iter() {
        if let Drafting::Bedrock { model, region } = &brand.drafting {
            let engine: &'static dyn DraftEngine = leak(BedrockEngine::from_conf(
                &aws,
                model.as_str(),
                region.as_deref(),
            ));
            engines.per_brand.insert(brand.id.clone(), engine);
        }
    }
    let engines = leak(engines);
    let drafter = leak(Drafter {
        store,
        content: store,
        drafts: store,
        engines,
        speller,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, std::convert::Infallible>(handle(drafter, event.payload).await)
    }))
    .await
}
