//! Lambda main of the draft function: dictionaries and clients once, then the SQS handler.
//!
//! Environment: VIGIE_TABLE (comments, brand content, drafts), VIGIE_DICTIONARIES (the
//! Hunspell folder packaged with the function; default /usr/share/hunspell).

use lambda_runtime::{LambdaEvent, service_fn};
use vigie_aws::DynamoStore;
use vigie_aws::function::{init_tracing, leak, required};
use vigie_core::draft::{DraftEngine, GroundedEngine};
use vigie_core::drafting::Drafter;
use vigie_draft::handler::handle;
use vigie_draft::spelling::HunspellSpeller;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let speller = leak(HunspellSpeller::from_env()?);
    let aws = vigie_aws::sdk_config().await;
    let store = leak(DynamoStore::from_conf(&aws, required("VIGIE_TABLE")?));
    let engines: &'static [&'static dyn DraftEngine] =
        leak([leak(GroundedEngine) as &dyn DraftEngine]);
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
