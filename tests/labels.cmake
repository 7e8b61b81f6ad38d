# ctest labels per test executable (default: unit). Labels: unit kernel golden vulkan slow
set(VLKV_TEST_LABELS_test_kernels "unit;kernel")
set(VLKV_TEST_LABELS_test_vk_ops "vulkan")
set(VLKV_TEST_LABELS_test_eval_e2e "golden")
set(VLKV_TEST_LABELS_test_vk_llama "vulkan")
set(VLKV_TEST_LABELS_test_golden_llama "golden")
set(VLKV_TEST_LABELS_test_golden_clip "golden")
set(VLKV_TEST_LABELS_test_golden_llava_tiny "golden")
set(VLKV_TEST_LABELS_test_vk_e2e "vulkan")
