# vulkan.cmake - the optional Vulkan backend (included by CMakeLists.txt when VLKV_VULKAN=ON).
# Finds the Vulkan headers/loader and a GLSL compiler (glslc or Debian's glslangValidator),
# compiles every shaders/*.comp to SPIR-V (vulkan1.2) at build time, embeds the bytes into a
# generated C file (cmake/vk_embed.cmake) and adds src/vk/*.c to vlkv_core.
#
# A shader may declare build-time variants on a line of its own:
#     //! variants: f32:A_F32 q4_0:A_Q4_0 q4_K:A_Q4_K,NUM_COLS_8
# giving one SPIR-V module per variant, named <file>_<suffix>, compiled with -D<DEF>=1 for each
# comma-separated DEF. Without that line the module is named after the file.
find_package(Vulkan)
if(NOT Vulkan_FOUND)
    message(WARNING "VLKV_VULKAN=ON but the Vulkan headers/loader were not found (Debian: libvulkan-dev); "
                    "building without the Vulkan backend")
    return()
endif()
find_program(VLKV_GLSLC glslc)
find_program(VLKV_GLSLANG glslangValidator)
if(NOT VLKV_GLSLC AND NOT VLKV_GLSLANG)
    message(WARNING "VLKV_VULKAN=ON but neither glslc nor glslangValidator was found "
                    "(Debian: glslang-tools); building without the Vulkan backend")
    return()
endif()

set(_shader_dir ${CMAKE_SOURCE_DIR}/shaders)
set(_spv_dir ${CMAKE_BINARY_DIR}/spv)
file(MAKE_DIRECTORY ${_spv_dir})
file(GLOB VLKV_SHADERS CONFIGURE_DEPENDS ${_shader_dir}/*.comp)
file(GLOB VLKV_SHADER_INCS CONFIGURE_DEPENDS ${_shader_dir}/*.glsl)

set(_spv_files "")
set(_spv_names "")
foreach(comp ${VLKV_SHADERS})
    get_filename_component(base ${comp} NAME_WE)
    # the variant list is read here, at configure time: re-configure when a shader changes
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${comp})
    file(STRINGS ${comp} _vline REGEX "^//! variants:")
    set(_variants "")
    if(_vline)
        string(REGEX REPLACE "^//! variants:[ ]*" "" _vline "${_vline}")
        string(REGEX REPLACE "[ ]+" ";" _variants "${_vline}")
    else()
        set(_variants "-")
    endif()
    foreach(v ${_variants})
        set(_defs "")
        if(v STREQUAL "-")
            set(name ${base})
        else()
            string(REPLACE ":" ";" _pair "${v}")
            list(GET _pair 0 _suffix)
            list(GET _pair 1 _deflist)
            set(name ${base}_${_suffix})
            string(REPLACE "," ";" _deflist "${_deflist}")
            foreach(d ${_deflist})
                list(APPEND _defs -D${d}=1)
            endforeach()
        endif()
        set(spv ${_spv_dir}/${name}.spv)
        if(VLKV_GLSLC)
            set(_cmd ${VLKV_GLSLC} -fshader-stage=compute --target-env=vulkan1.2 -I${_shader_dir} ${_defs}
                     ${comp} -o ${spv})
        else()
            set(_cmd ${VLKV_GLSLANG} -V --quiet --target-env vulkan1.2 -S comp -I${_shader_dir} ${_defs}
                     ${comp} -o ${spv})
        endif()
        add_custom_command(OUTPUT ${spv} COMMAND ${_cmd} DEPENDS ${comp} ${VLKV_SHADER_INCS}
                           COMMENT "GLSL -> SPIR-V ${name}" VERBATIM)
        list(APPEND _spv_files ${spv})
        list(APPEND _spv_names ${name})
    endforeach()
endforeach()

set(_gen ${CMAKE_BINARY_DIR}/vk_shaders.c)
string(REPLACE ";" "|" _spv_names_arg "${_spv_names}")
add_custom_command(OUTPUT ${_gen}
    COMMAND ${CMAKE_COMMAND} -DSPV_DIR=${_spv_dir} "-DNAMES=${_spv_names_arg}" -DOUT=${_gen}
            -P ${CMAKE_SOURCE_DIR}/cmake/vk_embed.cmake
    DEPENDS ${_spv_files} ${CMAKE_SOURCE_DIR}/cmake/vk_embed.cmake
    COMMENT "embedding SPIR-V modules" VERBATIM)

file(GLOB VLKV_VK_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/vk/*.c)
target_sources(vlkv_core PRIVATE ${VLKV_VK_SRC} ${_gen})
set_source_files_properties(${VLKV_VK_SRC} PROPERTIES COMPILE_OPTIONS "${VLKV_WARN}")
target_include_directories(vlkv_core PUBLIC ${CMAKE_SOURCE_DIR}/src/vk)
target_link_libraries(vlkv_core PUBLIC Vulkan::Vulkan)
target_compile_definitions(vlkv_core PUBLIC VLKV_HAVE_VULKAN=1)
set(VLKV_HAVE_VULKAN ON)
