# ctest labels per test executable (default: unit). Labels: unit kernel golden vulkan slow
set(VLKV_TEST_LABELS_test_kernels "unit;kernel")
