import os

pytest_plugins = ["pytester"]

# Under pytest-xdist the cores are already busy with one test per worker: a sweep inside a test runs
# in its worker's own process (THEORY_BENCH_JOBS=1) instead of starting a pool of its own, which would
# only compete for the same cores and compile every loop once more in each pool process.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("THEORY_BENCH_JOBS", "1")

# The longest tests (measured cold: 10 to 70 s each) run first, so that under
# pytest-xdist they spread over both workers instead of one of them ending the run alone. Order only:
# every test still runs, and a name missing here simply keeps its place.
LONGEST_FIRST = (
    "test_quick_form_end_to_end[ablation]", "test_quick_form_end_to_end[heavy_tails]", "test_quick_form_end_to_end[distributed]",
    "test_quick_form_end_to_end[stationarity]", "test_torch_examples_run_and_the_user_test_file_passes",
    "test_quick_form_end_to_end[regret]", "test_testing_api_example_passes_under_pytest",
    "test_experiment_on_a_subset_end_to_end", "test_bench_reports_every_kernel_and_the_loop",
    "test_claims_on_a_subset", "test_quick_form_end_to_end[precision]", "test_precision_example_prints_what_it_says",
    "test_testing_api_takes_torch_factories", "test_every_rank_receives_the_signs_computed_in_one_process[2]",
    "test_distributed_examples_print_what_they_say",
    "test_record_then_compare", "test_fp8_example_prints_what_it_says", "test_quick_form_end_to_end[convex]",
    "test_memory_of_a_large_run_is_a_few_vectors_and_the_iterates_cost_what_they_say",
    "test_digits_train_under_ddp_with_stosign_hook", "test_sgd_converges_where_the_theory_says",
    "test_an_optimizer_never_seen_through_the_command",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.name, len(rank)))       # stable: the rest keep their order
